using System.Text;
using System.Text.RegularExpressions;

namespace Engine.IO;

/// <summary>
/// NumPy's .npy format (version 1 and 2 headers): float32 or float64 (read as float32), int32/int64
/// (read as float), C order, little-endian. Used for test fixtures and for `engine forward`.
/// </summary>
public static partial class NpyFile
{
    public static (int[] shape, float[] data) Read(string path)
    {
        InputFile.MustExist(path);
        using var s = File.OpenRead(path);
        using var r = new BinaryReader(s);
        var magic = r.ReadBytes(6);
        if (magic.Length < 6 || magic[0] != 0x93 || Encoding.ASCII.GetString(magic, 1, 5) != "NUMPY")
            throw new EngineException($"{path}: not a .npy file");
        int major = r.ReadByte();
        r.ReadByte();
        int headerLen = major == 1 ? r.ReadUInt16() : (int)r.ReadUInt32();
        var header = Encoding.ASCII.GetString(r.ReadBytes(headerLen));
        var descr = DescrRegex().Match(header).Groups[1].Value;
        if (FortranRegex().IsMatch(header)) throw new EngineException($"{path}: Fortran-order arrays are not supported; save with C order");
        var shapeText = ShapeRegex().Match(header).Groups[1].Value;
        var shape = shapeText.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(int.Parse).ToArray();
        long count = shape.Aggregate(1L, (a, b) => a * b);
        var data = new float[count];
        switch (descr)
        {
            case "<f4": for (long i = 0; i < count; i++) data[i] = r.ReadSingle(); break;
            case "<f8": for (long i = 0; i < count; i++) data[i] = (float)r.ReadDouble(); break;
            case "<i4": for (long i = 0; i < count; i++) data[i] = r.ReadInt32(); break;
            case "<i8": for (long i = 0; i < count; i++) data[i] = r.ReadInt64(); break;
            case "|u1": for (long i = 0; i < count; i++) data[i] = r.ReadByte(); break;
            default: throw new EngineException($"{path}: dtype {descr} not supported; expected float32, float64, int32, int64 or uint8");
        }
        return (shape, data);
    }

    public static void Write(string path, IReadOnlyList<int> shape, ReadOnlySpan<float> data)
    {
        var shapeText = shape.Count == 1 ? $"({shape[0]},)" : $"({string.Join(", ", shape)})";
        var header = $"{{'descr': '<f4', 'fortran_order': False, 'shape': {shapeText}, }}";
        int total = 10 + header.Length + 1;
        header = header.PadRight(header.Length + (64 - total % 64) % 64) + "\n";
        using var ms = new MemoryStream();
        using (var w = new BinaryWriter(ms, Encoding.ASCII, leaveOpen: true))
        {
            w.Write((byte)0x93); w.Write(Encoding.ASCII.GetBytes("NUMPY")); w.Write((byte)1); w.Write((byte)0);
            w.Write((ushort)header.Length); w.Write(Encoding.ASCII.GetBytes(header));
            foreach (var v in data) w.Write(v);
        }
        var full = Path.GetFullPath(path);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        var tmp = full + ".tmp";
        File.WriteAllBytes(tmp, ms.ToArray());
        File.Move(tmp, full, overwrite: true);
    }

    [GeneratedRegex(@"'descr':\s*'([^']+)'")]
    private static partial Regex DescrRegex();
    [GeneratedRegex(@"'fortran_order':\s*True")]
    private static partial Regex FortranRegex();
    [GeneratedRegex(@"'shape':\s*\(([^)]*)\)")]
    private static partial Regex ShapeRegex();
}
