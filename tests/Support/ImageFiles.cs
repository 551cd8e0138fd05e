using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;

namespace Engine.Tests.Support;

/// <summary>
/// Writes small image files for tests, independently of the engine's own encoders: PNG (8-bit
/// gray or RGB, filter 0, its own CRC), binary PPM (P6) and PGM (P5). Pixels are interleaved
/// (R, G, B per pixel for colour), rows top to bottom.
/// </summary>
public static class ImageFiles
{
    public static byte[] Png(int width, int height, int channels, byte[] pixels)
    {
        int stride = width * channels;
        var raw = new byte[(stride + 1) * height];
        for (int y = 0; y < height; y++) Array.Copy(pixels, y * stride, raw, y * (stride + 1) + 1, stride);
        using var z = new MemoryStream();
        using (var zs = new ZLibStream(z, CompressionLevel.Fastest, leaveOpen: true)) zs.Write(raw);
        using var s = new MemoryStream();
        s.Write([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]);
        var ihdr = new byte[13];
        BinaryPrimitives.WriteInt32BigEndian(ihdr, width);
        BinaryPrimitives.WriteInt32BigEndian(ihdr.AsSpan(4), height);
        ihdr[8] = 8;
        ihdr[9] = (byte)(channels == 1 ? 0 : 2);
        Chunk(s, "IHDR", ihdr);
        Chunk(s, "IDAT", z.ToArray());
        Chunk(s, "IEND", []);
        return s.ToArray();
    }

    public static byte[] Pnm(int width, int height, int channels, byte[] pixels) =>
        [.. Encoding.ASCII.GetBytes($"P{(channels == 1 ? 5 : 6)}\n# test image\n{width} {height}\n255\n"), .. pixels];

    private static void Chunk(MemoryStream s, string type, byte[] data)
    {
        var word = new byte[4];
        BinaryPrimitives.WriteInt32BigEndian(word, data.Length);
        s.Write(word);
        byte[] td = [.. Encoding.ASCII.GetBytes(type), .. data];
        s.Write(td);
        uint c = 0xFFFFFFFF;
        foreach (byte b in td)
        {
            c ^= b;
            for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0xEDB88320u & (uint)-(int)(c & 1));
        }
        BinaryPrimitives.WriteUInt32BigEndian(word, ~c);
        s.Write(word);
    }
}

/// <summary>CIFAR-10 binary batch files for tests: records of 1 label byte + 3×32×32 pixel bytes.</summary>
public static class CifarFiles
{
    public const int ImageBytes = 3072;

    /// <summary>Pixel (channel c, row y, column x) of record i: a pattern that differs per record and position.</summary>
    public static byte Pixel(int i, int c, int y, int x) => (byte)((37 * i + 101 * c + 7 * y + 3 * x) & 0xFF);

    /// <summary>The label of record i.</summary>
    public static byte Label(int i) => (byte)((3 * i + 1) % 10);

    /// <summary>The 3072 image bytes of record i, channel-major (R plane, G plane, B plane).</summary>
    public static byte[] Image(int i)
    {
        var img = new byte[ImageBytes];
        for (int c = 0; c < 3; c++)
            for (int y = 0; y < 32; y++)
                for (int x = 0; x < 32; x++) img[(c * 32 + y) * 32 + x] = Pixel(i, c, y, x);
        return img;
    }

    /// <summary>A batch file holding records first … first + count − 1.</summary>
    public static string Write(string path, int first, int count)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        using var f = File.Create(path);
        for (int i = first; i < first + count; i++)
        {
            f.WriteByte(Label(i));
            f.Write(Image(i));
        }
        return path;
    }
}
