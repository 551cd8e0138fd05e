using System.Buffers.Binary;
using System.IO.Compression;

namespace Engine.Layers;

/// <summary>
/// Writes planar 8-bit images (1 gray channel, or 3 in B, G, R order as the data layers hold
/// them) as PNG or PPM/PGM bytes, for `engine convert --list --encoded` when an image has to be
/// re-encoded (resized, or its channels changed). <see cref="ImageDecoders"/> reads them back
/// to the same planar bytes.
/// </summary>
public static class ImageEncoders
{
    /// <summary>PNG: colour type 0 (gray) or 2 (RGB), 8-bit, filter 0 on every row, zlib-compressed.</summary>
    public static byte[] Png(ReadOnlySpan<byte> planar, int channels, int height, int width)
    {
        var rgb = Interleave(planar, channels, height, width);
        int stride = width * channels;
        var raw = new byte[(stride + 1) * height];
        for (int y = 0; y < height; y++)
            rgb.AsSpan(y * stride, stride).CopyTo(raw.AsSpan(y * (stride + 1) + 1));
        using var compressed = new MemoryStream();
        using (var z = new ZLibStream(compressed, CompressionLevel.Optimal, leaveOpen: true)) z.Write(raw);

        using var png = new MemoryStream();
        png.Write([0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A]);
        var header = new byte[13];
        BinaryPrimitives.WriteUInt32BigEndian(header, (uint)width);
        BinaryPrimitives.WriteUInt32BigEndian(header.AsSpan(4), (uint)height);
        header[8] = 8;
        header[9] = (byte)(channels == 1 ? 0 : 2);
        Chunk(png, "IHDR", header);
        Chunk(png, "IDAT", compressed.ToArray());
        Chunk(png, "IEND", []);
        return png.ToArray();
    }

    /// <summary>Binary PGM (P5) for one channel, PPM (P6) for three; maxval 255.</summary>
    public static byte[] Pnm(ReadOnlySpan<byte> planar, int channels, int height, int width)
    {
        var header = System.Text.Encoding.ASCII.GetBytes($"P{(channels == 1 ? 5 : 6)}\n{width} {height}\n255\n");
        var pixels = Interleave(planar, channels, height, width);
        var bytes = new byte[header.Length + pixels.Length];
        header.CopyTo(bytes, 0);
        pixels.CopyTo(bytes, header.Length);
        return bytes;
    }

    // Planar gray or B, G, R → interleaved gray or R, G, B.
    private static byte[] Interleave(ReadOnlySpan<byte> planar, int channels, int height, int width)
    {
        if (channels is not (1 or 3)) throw new ArgumentException($"{channels} channels; images have 1 or 3");
        int n = height * width;
        if (planar.Length != channels * n) throw new ArgumentException($"{planar.Length} bytes for {channels}×{height}×{width}");
        if (channels == 1) return planar.ToArray();
        var o = new byte[3 * n];
        for (int i = 0; i < n; i++)
        {
            o[3 * i] = planar[2 * n + i];
            o[3 * i + 1] = planar[n + i];
            o[3 * i + 2] = planar[i];
        }
        return o;
    }

    private static void Chunk(Stream s, string type, byte[] data)
    {
        Span<byte> word = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(word, (uint)data.Length);
        s.Write(word);
        var typeAndData = new byte[4 + data.Length];
        System.Text.Encoding.ASCII.GetBytes(type, typeAndData);
        data.CopyTo(typeAndData, 4);
        s.Write(typeAndData);
        BinaryPrimitives.WriteUInt32BigEndian(word, ImageDecoders.Crc32(typeAndData));
        s.Write(word);
    }
}
