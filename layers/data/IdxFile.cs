using System.Buffers.Binary;
using System.IO.Compression;

namespace Engine.Layers;

/// <summary>
/// Reads MNIST's IDX files (big-endian header: magic 0x000008NN — type 08 = uint8, NN = number of
/// dimensions — then one int32 per dimension, then the bytes), gzipped or not. Gzip is recognised
/// by its magic bytes 1F 8B, whatever the file is called.
/// </summary>
public static class IdxFile
{
    /// <summary>Magic of an images file: uint8, 3 dimensions (N×H×W).</summary>
    public const int ImagesMagic = 0x00000803;

    /// <summary>Magic of a labels file: uint8, 1 dimension (N).</summary>
    public const int LabelsMagic = 0x00000801;

    /// <summary>
    /// Read a whole uint8 IDX file whose magic must be <paramref name="expectedMagic"/>. Returns
    /// the dimensions and the data. <paramref name="what"/> names the file in errors ("source",
    /// "label_source"); <paramref name="error"/> makes an error that names the layer.
    /// </summary>
    public static (int[] dims, byte[] data) Read(string path, int expectedMagic, string what, Func<string, EngineException> error)
    {
        if (!File.Exists(path))
        {
            string where = Engine.IO.InputFile.WhereRelative(path);
            throw error(Directory.Exists(path)
                ? $"{what} \"{path}\" is a directory; backend IDX reads one IDX file (e.g. train-images-idx3-ubyte.gz)"
                : $"{what} \"{path}\": no such file{where}");
        }
        try
        {
            using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
            bool gzip = file.Length >= 2 && file.ReadByte() == 0x1F && file.ReadByte() == 0x8B;
            file.Position = 0;
            using Stream stream = gzip ? new GZipStream(file, CompressionMode.Decompress) : file;
            string kind = gzip ? "gzipped IDX file" : "IDX file";

            Span<byte> word = stackalloc byte[4];
            if (ReadFully(stream, word) < 4)
                throw error($"{what} \"{path}\": truncated {kind}: no complete header");
            int magic = BinaryPrimitives.ReadInt32BigEndian(word);
            if (magic != expectedMagic)
                throw error($"{what} \"{path}\": bad magic number 0x{magic:X8} in the {kind}, expected 0x{expectedMagic:X8} ({Describe(expectedMagic)}){Hint(magic, expectedMagic)}");

            var dims = new int[expectedMagic & 0xFF];
            long count = 1;
            for (int i = 0; i < dims.Length; i++)
            {
                if (ReadFully(stream, word) < 4)
                    throw error($"{what} \"{path}\": truncated {kind}: the header ends inside dimension {i + 1} of {dims.Length}");
                dims[i] = BinaryPrimitives.ReadInt32BigEndian(word);
                if (dims[i] <= 0)
                    throw error($"{what} \"{path}\": dimension {i + 1} of the header is {dims[i]}; every dimension must be positive");
                count *= dims[i];
            }
            if (count > Array.MaxLength)
                throw error($"{what} \"{path}\": {string.Join("×", dims)} = {count} bytes is more than one array holds ({Array.MaxLength})");

            var data = new byte[count];
            int got = ReadFully(stream, data);
            if (got < count)
                throw error($"{what} \"{path}\": truncated {kind}: the header says {string.Join("×", dims)} = {count} bytes of data, but only {got} follow");
            if (stream.ReadByte() >= 0)
                Engine.Core.Log.Warning($"{what} \"{path}\": bytes after the {string.Join("×", dims)} records are ignored", "data_layer.cs");
            return (dims, data);
        }
        catch (InvalidDataException e)
        {
            throw error($"{what} \"{path}\": damaged gzip data ({e.Message})");
        }
        catch (IOException e)
        {
            throw error($"{what} \"{path}\": cannot read it ({e.Message})");
        }
        catch (UnauthorizedAccessException e)
        {
            throw error($"{what} \"{path}\": cannot open it ({e.Message})");
        }
    }

    private static int ReadFully(Stream stream, Span<byte> buffer)
    {
        int total = 0;
        while (total < buffer.Length)
        {
            int n = stream.Read(buffer[total..]);
            if (n == 0) break;
            total += n;
        }
        return total;
    }

    private static string Describe(int magic) => magic switch
    {
        ImagesMagic => "uint8 images N×H×W",
        LabelsMagic => "uint8 labels N",
        _ => $"uint8, {magic & 0xFF} dimensions",
    };

    private static string Hint(int magic, int expected)
    {
        if (magic == LabelsMagic && expected == ImagesMagic) return "; this looks like a labels file: give it as label_source";
        if (magic == ImagesMagic && expected == LabelsMagic) return "; this looks like an images file: give it as source";
        if ((magic & ~0xFFFF) == 0 && ((magic >> 8) & 0xFF) is 0x09 or 0x0B or 0x0C or 0x0D or 0x0E)
            return "; only uint8 (type 0x08) IDX data is read";
        return "";
    }
}
