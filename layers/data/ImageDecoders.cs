using System.Buffers.Binary;
using System.IO.Compression;

namespace Engine.Layers;

/// <summary>A decoded image: interleaved 8-bit pixels, 1 channel (gray) or 3 (R, G, B), row-major.</summary>
public sealed record DecodedImage(int Width, int Height, int Channels, byte[] Pixels);

/// <summary>An image file this build cannot read: not a known format, or a feature it lacks.</summary>
public sealed class UnsupportedImageException(string message) : Exception(message);

/// <summary>An image file that claims a known format but whose contents are damaged.</summary>
public sealed class CorruptImageException(string message) : Exception(message);

/// <summary>
/// Image decoders for the ImageData layer, written here so the engine needs no native library:
/// <list type="bullet">
/// <item>PPM/PGM: P5/P6 (binary) and P2/P3 (ASCII), maxval ≤ 255; values are kept as stored
/// (not rescaled to 255), as OpenCV reads them.</item>
/// <item>PNG: 8-bit gray, gray+alpha, RGB, RGBA and palette images, not interlaced; all five
/// filter types; chunk CRCs are checked. Alpha is dropped (as OpenCV's imread in colour or gray
/// mode does); palette images become RGB.</item>
/// </list>
/// </summary>
public static class ImageDecoders
{
    private static readonly byte[] PngSignature = [0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A];

    /// <summary>Decode a PNG, PPM or PGM file from its bytes (the format is told by its magic).</summary>
    public static DecodedImage Decode(byte[] bytes)
    {
        if (bytes.Length >= 8 && bytes.AsSpan(0, 8).SequenceEqual(PngSignature)) return DecodePng(bytes);
        if (bytes.Length >= 2 && bytes[0] == 'P' && bytes[1] is (byte)'2' or (byte)'3' or (byte)'5' or (byte)'6') return DecodePnm(bytes);
        if (bytes.Length >= 2 && bytes[0] == 'P' && bytes[1] is (byte)'1' or (byte)'4' or (byte)'7')
            throw new UnsupportedImageException($"P{(char)bytes[1]} (PBM/PAM) files are not supported; use P2, P3, P5 or P6");
        if (bytes.Length >= 3 && bytes[0] == 0xFF && bytes[1] == 0xD8 && bytes[2] == 0xFF)
            throw new UnsupportedImageException("JPEG files are not supported yet; convert to PNG, PPM or PGM");
        string head = Convert.ToHexString(bytes.AsSpan(0, Math.Min(8, bytes.Length)));
        throw new UnsupportedImageException($"unknown image format (first bytes {(head.Length > 0 ? head : "none: the file is empty")}); supported: PNG, PPM (P3/P6), PGM (P2/P5)");
    }

    // ---- PPM / PGM ----

    private static DecodedImage DecodePnm(byte[] b)
    {
        char kind = (char)b[1];
        int pos = 2;
        int width = PnmHeaderNumber(b, ref pos, "width");
        int height = PnmHeaderNumber(b, ref pos, "height");
        int maxval = PnmHeaderNumber(b, ref pos, "maxval");
        if (width <= 0 || height <= 0) throw new CorruptImageException($"P{kind} size {width}×{height} is not positive");
        if (maxval is <= 0 or > 255)
            throw new UnsupportedImageException($"P{kind} maxval {maxval}: only maxval 1 to 255 (8-bit) is supported");
        int channels = kind is '3' or '6' ? 3 : 1;
        long count = (long)width * height * channels;
        if (count > int.MaxValue) throw new CorruptImageException($"P{kind} size {width}×{height} is too large");
        var pixels = new byte[count];
        if (kind is '5' or '6')
        {
            // Exactly one whitespace byte after maxval, then the raster.
            if (pos >= b.Length || !IsSpace(b[pos])) throw new CorruptImageException($"P{kind} header is not followed by whitespace");
            pos++;
            if (b.Length - pos < count)
                throw new CorruptImageException($"P{kind} raster is truncated: {b.Length - pos} bytes for {width}×{height}×{channels} = {count}");
            b.AsSpan(pos, (int)count).CopyTo(pixels);
            for (int i = 0; i < pixels.Length; i++)
                if (pixels[i] > maxval) throw new CorruptImageException($"P{kind} sample {i} is {pixels[i]}, above maxval {maxval}");
        }
        else
        {
            for (int i = 0; i < count; i++)
            {
                int v = PnmNumber(b, ref pos)
                    ?? throw new CorruptImageException($"P{kind} raster is truncated or not a number at sample {i} of {count}");
                if (v > maxval) throw new CorruptImageException($"P{kind} sample {i} is {v}, above maxval {maxval}");
                pixels[i] = (byte)v;
            }
        }
        return new DecodedImage(width, height, channels, pixels);
    }

    private static int PnmHeaderNumber(byte[] b, ref int pos, string what) =>
        PnmNumber(b, ref pos) ?? throw new CorruptImageException($"P{(char)b[1]} header: {what} is missing or not a number");

    private static bool IsSpace(byte c) => c is (byte)' ' or (byte)'\t' or (byte)'\n' or (byte)'\r' or 0x0B or 0x0C;

    // Skips whitespace (and # comments), then reads a decimal number; null when none is there.
    private static int? PnmNumber(byte[] b, ref int pos)
    {
        while (pos < b.Length)
        {
            if (IsSpace(b[pos])) pos++;
            else if (b[pos] == '#') { while (pos < b.Length && b[pos] != '\n' && b[pos] != '\r') pos++; }
            else break;
        }
        if (pos >= b.Length || b[pos] < '0' || b[pos] > '9') return null;
        long v = 0;
        while (pos < b.Length && b[pos] >= '0' && b[pos] <= '9')
        {
            v = v * 10 + (b[pos++] - '0');
            if (v > int.MaxValue) throw new CorruptImageException("a number in the file is too large");
        }
        if (pos < b.Length && !IsSpace(b[pos]) && b[pos] != '#') return null;
        return (int)v;
    }

    // ---- PNG ----

    private static readonly uint[] CrcTable = MakeCrcTable();

    private static uint[] MakeCrcTable()
    {
        var t = new uint[256];
        for (uint n = 0; n < 256; n++)
        {
            uint c = n;
            for (int k = 0; k < 8; k++) c = (c & 1) != 0 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
            t[n] = c;
        }
        return t;
    }

    /// <summary>The CRC-32 that PNG chunks carry (over the type and the data).</summary>
    public static uint Crc32(ReadOnlySpan<byte> data)
    {
        uint c = 0xFFFFFFFFu;
        foreach (byte x in data) c = CrcTable[(c ^ x) & 0xFF] ^ (c >> 8);
        return c ^ 0xFFFFFFFFu;
    }

    private static DecodedImage DecodePng(byte[] b)
    {
        int pos = 8;
        int width = 0, height = 0, colorType = -1;
        byte[]? palette = null;
        using var idat = new MemoryStream();
        bool sawHeader = false, sawEnd = false;
        while (!sawEnd)
        {
            if (b.Length - pos < 12) throw new CorruptImageException(sawHeader ? "PNG ends before its IEND chunk" : "PNG ends before its IHDR chunk");
            uint length = BinaryPrimitives.ReadUInt32BigEndian(b.AsSpan(pos));
            if (length > int.MaxValue || b.Length - pos - 12 < length)
                throw new CorruptImageException($"PNG chunk at byte {pos} claims {length} bytes, past the end of the file");
            var typeAndData = b.AsSpan(pos + 4, 4 + (int)length);
            string type = System.Text.Encoding.ASCII.GetString(typeAndData[..4]);
            var data = typeAndData[4..];
            uint crc = BinaryPrimitives.ReadUInt32BigEndian(b.AsSpan(pos + 8 + (int)length));
            if (crc != Crc32(typeAndData)) throw new CorruptImageException($"PNG chunk {type} at byte {pos} has a bad CRC");
            pos += 12 + (int)length;
            if (!sawHeader && type != "IHDR") throw new CorruptImageException($"PNG starts with chunk {type}, not IHDR");
            switch (type)
            {
                case "IHDR":
                    if (length != 13) throw new CorruptImageException($"PNG IHDR has {length} bytes, not 13");
                    uint w = BinaryPrimitives.ReadUInt32BigEndian(data), h = BinaryPrimitives.ReadUInt32BigEndian(data[4..]);
                    if (w == 0 || h == 0 || w > int.MaxValue || h > int.MaxValue) throw new CorruptImageException($"PNG size {w}×{h} is not valid");
                    width = (int)w; height = (int)h;
                    int depth = data[8];
                    colorType = data[9];
                    if (colorType is not (0 or 2 or 3 or 4 or 6)) throw new CorruptImageException($"PNG color type {colorType} is not valid");
                    if (depth != 8) throw new UnsupportedImageException($"PNG bit depth {depth}: only 8-bit PNGs are supported");
                    if (data[10] != 0 || data[11] != 0) throw new CorruptImageException($"PNG compression method {data[10]} / filter method {data[11]} is not valid");
                    if (data[12] != 0) throw new UnsupportedImageException("interlaced (Adam7) PNGs are not supported; save the image without interlacing");
                    sawHeader = true;
                    break;
                case "PLTE":
                    if (length % 3 != 0 || length == 0 || length > 768) throw new CorruptImageException($"PNG palette of {length} bytes is not valid");
                    palette = data.ToArray();
                    break;
                case "IDAT":
                    idat.Write(data);
                    break;
                case "IEND":
                    sawEnd = true;
                    break;
                default:
                    if ((type[0] & 0x20) == 0) throw new UnsupportedImageException($"PNG critical chunk {type} is not supported");
                    break; // ancillary chunks (tRNS, gAMA, text…) are ignored
            }
        }
        if (colorType == 3 && palette == null) throw new CorruptImageException("PNG palette image has no PLTE chunk");
        int bpp = colorType switch { 0 => 1, 2 => 3, 3 => 1, 4 => 2, _ => 4 };
        long stride = (long)width * bpp;
        long expected = (stride + 1) * height;
        if (expected > int.MaxValue) throw new CorruptImageException($"PNG size {width}×{height} is too large");
        var raw = new byte[expected];
        int got;
        try
        {
            idat.Position = 0;
            using var z = new ZLibStream(idat, CompressionMode.Decompress, leaveOpen: true);
            got = 0;
            while (got < raw.Length)
            {
                int n = z.Read(raw, got, raw.Length - got);
                if (n == 0) break;
                got += n;
            }
        }
        catch (InvalidDataException e)
        {
            throw new CorruptImageException($"PNG image data does not inflate: {e.Message}");
        }
        if (got != raw.Length) throw new CorruptImageException($"PNG image data inflates to {got} bytes, expected {expected} for {width}×{height}");

        var image = new byte[stride * height];
        int s = (int)stride;
        for (int y = 0; y < height; y++)
        {
            int filter = raw[y * (s + 1)];
            var src = raw.AsSpan(y * (s + 1) + 1, s);
            var cur = image.AsSpan(y * s, s);
            var prev = y > 0 ? image.AsSpan((y - 1) * s, s) : Span<byte>.Empty;
            for (int x = 0; x < s; x++)
            {
                int a = x >= bpp ? cur[x - bpp] : 0;
                int up = y > 0 ? prev[x] : 0;
                int c = x >= bpp && y > 0 ? prev[x - bpp] : 0;
                int pred = filter switch
                {
                    0 => 0,
                    1 => a,
                    2 => up,
                    3 => (a + up) >> 1,
                    4 => Paeth(a, up, c),
                    _ => throw new CorruptImageException($"PNG row {y} has filter type {filter}; valid types are 0 to 4"),
                };
                cur[x] = (byte)(src[x] + pred);
            }
        }

        switch (colorType)
        {
            case 0: return new DecodedImage(width, height, 1, image);
            case 2: return new DecodedImage(width, height, 3, image);
            case 4:
                {
                    var g = new byte[width * height];
                    for (int i = 0; i < g.Length; i++) g[i] = image[2 * i];
                    return new DecodedImage(width, height, 1, g);
                }
            case 6:
                {
                    var rgb = new byte[width * height * 3];
                    for (int i = 0; i < width * height; i++)
                    {
                        rgb[3 * i] = image[4 * i]; rgb[3 * i + 1] = image[4 * i + 1]; rgb[3 * i + 2] = image[4 * i + 2];
                    }
                    return new DecodedImage(width, height, 3, rgb);
                }
            default:
                {
                    var rgb = new byte[width * height * 3];
                    int entries = palette!.Length / 3;
                    for (int i = 0; i < width * height; i++)
                    {
                        int k = image[i];
                        if (k >= entries) throw new CorruptImageException($"PNG pixel {i} uses palette entry {k}, but the palette has {entries}");
                        rgb[3 * i] = palette[3 * k]; rgb[3 * i + 1] = palette[3 * k + 1]; rgb[3 * i + 2] = palette[3 * k + 2];
                    }
                    return new DecodedImage(width, height, 3, rgb);
                }
        }
    }

    private static int Paeth(int a, int b, int c)
    {
        int p = a + b - c;
        int pa = Math.Abs(p - a), pb = Math.Abs(p - b), pc = Math.Abs(p - c);
        return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
    }
}
