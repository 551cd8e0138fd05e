using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;
using Engine.Core;
using Engine.Layers;
using Engine.Proto;
using NUnit.Framework;

namespace Engine.Tests.Layers.Data;

/// <summary>The ImageData layer and its decoders, on PNG/PPM/PGM files written here.</summary>
[TestFixture]
public class ImageDataLayerTests
{
    private string _dir = "";

    [SetUp]
    public void MakeDir()
    {
        Log.Quiet = true;
        _dir = Path.Combine(Path.GetTempPath(), "engine-image-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(_dir);
    }

    [TearDown]
    public void RemoveDir() => Directory.Delete(_dir, recursive: true);

    // ---- a minimal PNG encoder (independent CRC, filters computed here) ----

    private static uint Crc(byte[] data)
    {
        uint c = 0xFFFFFFFF;
        foreach (byte b in data)
        {
            c ^= b;
            for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0xEDB88320u & (uint)-(int)(c & 1));
        }
        return ~c;
    }

    private static void Chunk(MemoryStream s, string type, byte[] data)
    {
        var len = new byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(len, (uint)data.Length);
        s.Write(len);
        var td = Encoding.ASCII.GetBytes(type).Concat(data).ToArray();
        s.Write(td);
        var crc = new byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(crc, Crc(td));
        s.Write(crc);
    }

    private static int Paeth(int a, int b, int c)
    {
        int p = a + b - c, pa = Math.Abs(p - a), pb = Math.Abs(p - b), pc = Math.Abs(p - c);
        return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
    }

    /// <summary>PNG bytes; rows use filter types from <paramref name="filters"/> cyclically (default 0).</summary>
    private static byte[] Png(int w, int h, int colorType, byte[] pixels, int[]? filters = null, byte[]? palette = null, bool breakCrc = false, Action<byte[]>? editHeader = null)
    {
        int bpp = colorType switch { 0 => 1, 2 => 3, 3 => 1, 4 => 2, _ => 4 };
        int stride = w * bpp;
        var raw = new MemoryStream();
        for (int y = 0; y < h; y++)
        {
            int f = filters == null ? 0 : filters[y % filters.Length];
            raw.WriteByte((byte)f);
            for (int x = 0; x < stride; x++)
            {
                int cur = pixels[y * stride + x];
                int a = x >= bpp ? pixels[y * stride + x - bpp] : 0;
                int b = y > 0 ? pixels[(y - 1) * stride + x] : 0;
                int c = x >= bpp && y > 0 ? pixels[(y - 1) * stride + x - bpp] : 0;
                int pred = f switch { 0 => 0, 1 => a, 2 => b, 3 => (a + b) / 2, _ => Paeth(a, b, c) };
                raw.WriteByte((byte)(cur - pred));
            }
        }
        var z = new MemoryStream();
        using (var zs = new ZLibStream(z, CompressionLevel.Optimal, leaveOpen: true)) zs.Write(raw.ToArray());
        var s = new MemoryStream();
        s.Write([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]);
        var ihdr = new byte[13];
        BinaryPrimitives.WriteUInt32BigEndian(ihdr, (uint)w);
        BinaryPrimitives.WriteUInt32BigEndian(ihdr.AsSpan(4), (uint)h);
        ihdr[8] = 8; ihdr[9] = (byte)colorType;
        editHeader?.Invoke(ihdr);
        Chunk(s, "IHDR", ihdr);
        if (palette != null) Chunk(s, "PLTE", palette);
        Chunk(s, "tEXt", Encoding.ASCII.GetBytes("Comment\0test"));
        var zb = z.ToArray();
        Chunk(s, "IDAT", zb[..(zb.Length / 2)]); // split over two IDAT chunks
        Chunk(s, "IDAT", zb[(zb.Length / 2)..]);
        Chunk(s, "IEND", []);
        var bytes = s.ToArray();
        if (breakCrc) bytes[8 + 8 + 13] ^= 1; // IHDR CRC
        return bytes;
    }

    private string Write(string name, byte[] bytes)
    {
        var path = Path.Combine(_dir, name);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    private string List(params string[] lines) => Write("list.txt", Encoding.ASCII.GetBytes(string.Join("\n", lines) + "\n"));

    private LayerParameter Param(string list, int batch, Action<ImageDataParameter>? configure = null,
        TransformationParameter? tp = null, Phase phase = Phase.Train)
    {
        var ip = new ImageDataParameter { Source = list, BatchSize = (uint)batch, RootFolder = _dir + "/" };
        configure?.Invoke(ip);
        var p = new LayerParameter { Name = "img", Type = "ImageData", ImageDataParam = ip, Phase = phase };
        if (tp != null) p.TransformParam = tp;
        return p;
    }

    private static (Layer layer, List<Blob> tops) SetUp(LayerParameter p, ulong seed = 1)
    {
        var layer = LayerRegistry.Create(p);
        layer.Rng = new Rng(seed);
        var t = new List<Blob> { new("data"), new("label") };
        layer.SetUp(new List<Blob>(), t);
        return (layer, t);
    }

    private static (float[] data, float[] labels) Forward(Layer layer, List<Blob> tops)
    {
        layer.Forward(new List<Blob>(), tops);
        return (tops[0].Data.ToArray(), tops[1].Data.ToArray());
    }

    // RGB 3×2 image: pixel i has R = 10 i, G = 10 i + 1, B = 10 i + 2
    private static byte[] Rgb32() => Enumerable.Range(0, 6).SelectMany(i => new[] { (byte)(10 * i), (byte)(10 * i + 1), (byte)(10 * i + 2) }).ToArray();

    private static float[] Bgr32Planar()
    {
        var o = new float[18];
        for (int i = 0; i < 6; i++) { o[i] = 10 * i + 2; o[6 + i] = 10 * i + 1; o[12 + i] = 10 * i; }
        return o;
    }

    [Test]
    public void PngFilter0AndFilters1To4DecodeExactlyInBgrOrder()
    {
        Write("a.png", Png(3, 2, 2, Rgb32()));
        // A 5×4 RGB image with varied values, rows filtered Sub, Up, Average, Paeth.
        var px = new byte[5 * 4 * 3];
        for (int i = 0; i < px.Length; i++) px[i] = (byte)(i * 37 % 251);
        Write("b.png", Png(5, 4, 2, px, filters: [1, 2, 3, 4]));
        var img = ImageDecoders.Decode(File.ReadAllBytes(Path.Combine(_dir, "b.png")));
        Assert.That((img.Width, img.Height, img.Channels), Is.EqualTo((5, 4, 3)));
        Assert.That(img.Pixels, Is.EqualTo(px));
        var (layer, tops) = SetUp(Param(List("a.png 7"), 1));
        Assert.That(tops[0].Shape, Is.EqualTo(new[] { 1, 3, 2, 3 }));
        var (data, labels) = Forward(layer, tops);
        Assert.That(data, Is.EqualTo(Bgr32Planar()));
        Assert.That(labels, Is.EqualTo(new float[] { 7 }));
    }

    [Test]
    public void PngGrayGrayAlphaRgbaAndPalette()
    {
        var gray = new byte[] { 0, 50, 100, 150, 200, 255 };
        Assert.That(ImageDecoders.Decode(Png(3, 2, 0, gray, [0, 4])).Pixels, Is.EqualTo(gray));
        var ga = gray.SelectMany(g => new[] { g, (byte)99 }).ToArray();
        var dga = ImageDecoders.Decode(Png(3, 2, 4, ga, [1, 3]));
        Assert.That((dga.Channels, dga.Pixels), Is.EqualTo((1, gray)));
        var rgba = Enumerable.Range(0, 6).SelectMany(i => new[] { (byte)i, (byte)(i + 1), (byte)(i + 2), (byte)200 }).ToArray();
        var drgba = ImageDecoders.Decode(Png(3, 2, 6, rgba, [2, 4]));
        Assert.That(drgba.Channels, Is.EqualTo(3));
        Assert.That(drgba.Pixels, Is.EqualTo(Enumerable.Range(0, 6).SelectMany(i => new[] { (byte)i, (byte)(i + 1), (byte)(i + 2) }).ToArray()));
        var pal = ImageDecoders.Decode(Png(2, 1, 3, [1, 0], palette: [9, 8, 7, 200, 100, 50]));
        Assert.That(pal.Pixels, Is.EqualTo(new byte[] { 200, 100, 50, 9, 8, 7 }));
    }

    [Test]
    public void PpmAndPgmBinaryAndAscii()
    {
        var rgb = Rgb32();
        Write("p6.ppm", Encoding.ASCII.GetBytes("P6\n# comment\n3 2\n255\n").Concat(rgb).ToArray());
        Write("p3.ppm", Encoding.ASCII.GetBytes("P3 3 2 255\n" + string.Join(" ", rgb) + "\n"));
        Write("p5.pgm", Encoding.ASCII.GetBytes("P5 3 2 255 ").Concat(new byte[] { 1, 2, 3, 4, 5, 6 }).ToArray());
        Write("p2.pgm", Encoding.ASCII.GetBytes("P2\n3 2\n# c\n15\n1 2 3\n4 5 15\n"));
        var (layer, tops) = SetUp(Param(List("p6.ppm 0", "p3.ppm 1"), 2));
        var (data, labels) = Forward(layer, tops);
        Assert.That(data, Is.EqualTo(Bgr32Planar().Concat(Bgr32Planar()).ToArray()));
        Assert.That(labels, Is.EqualTo(new float[] { 0, 1 }));
        Assert.That(ImageDecoders.Decode(File.ReadAllBytes(Path.Combine(_dir, "p5.pgm"))).Pixels, Is.EqualTo(new byte[] { 1, 2, 3, 4, 5, 6 }));
        Assert.That(ImageDecoders.Decode(File.ReadAllBytes(Path.Combine(_dir, "p2.pgm"))).Pixels, Is.EqualTo(new byte[] { 1, 2, 3, 4, 5, 15 }));
        // gray images in colour mode repeat the value in B, G, R
        var (l2, t2) = SetUp(Param(List("p5.pgm 3"), 1));
        Assert.That(Forward(l2, t2).data, Is.EqualTo(new float[] { 1, 2, 3, 4, 5, 6, 1, 2, 3, 4, 5, 6, 1, 2, 3, 4, 5, 6 }));
    }

    [Test]
    public void GrayConversionUsesOpenCvWeights()
    {
        Write("c.ppm", Encoding.ASCII.GetBytes("P6 2 2 255\n").Concat(new byte[] { 255, 0, 0, 0, 255, 0, 0, 0, 255, 10, 20, 30 }).ToArray());
        var (layer, tops) = SetUp(Param(List("c.ppm 1"), 1, ip => ip.IsColor = false));
        Assert.That(tops[0].Shape, Is.EqualTo(new[] { 1, 1, 2, 2 }));
        var d = Forward(layer, tops).data;
        // round(0.299 R + 0.587 G + 0.114 B)
        Assert.That(d, Is.EqualTo(new float[] { 76, 150, 29, 18 }));
    }

    [Test]
    public void BilinearResizeTwoByTwoToFourByFour()
    {
        Write("g.pgm", Encoding.ASCII.GetBytes("P5 2 2 255\n").Concat(new byte[] { 0, 40, 80, 120 }).ToArray());
        var (layer, tops) = SetUp(Param(List("g.pgm 0"), 1, ip => { ip.IsColor = false; ip.NewHeight = 4; ip.NewWidth = 4; }));
        // Source coordinate of output k is (k + 0.5)/2 − 0.5 → −0.25 (edge), 0.25, 0.75, 1.25 (edge):
        // weights 0, 0.25, 0.75, 1 toward the second pixel; value = 40 fx + 80 fy.
        float[] f = [0, 0.25f, 0.75f, 1];
        var expected = new float[16];
        for (int y = 0; y < 4; y++)
            for (int x = 0; x < 4; x++) expected[y * 4 + x] = 40 * f[x] + 80 * f[y];
        Assert.That(Forward(layer, tops).data, Is.EqualTo(expected));
        Assert.That(expected[5], Is.EqualTo(30f));
    }

    private string GrayImages(int n)
    {
        var lines = new string[n];
        for (int i = 0; i < n; i++)
        {
            Write($"d/{i}.pgm", Encoding.ASCII.GetBytes("P5 2 2 255\n").Concat(new byte[] { (byte)i, (byte)(i + 10), (byte)(i + 20), (byte)(i + 30) }).ToArray());
            lines[i] = $"d/{i}.pgm {100 + i}";
        }
        return List(lines);
    }

    [Test]
    public void ShuffleIsAPermutationEveryEpoch()
    {
        var list = GrayImages(6);
        var (layer, tops) = SetUp(Param(list, 6, ip => { ip.Shuffle = true; ip.IsColor = false; }), seed: 5);
        var seen = new List<float[]>();
        for (int e = 0; e < 3; e++)
        {
            var (data, labels) = Forward(layer, tops);
            Assert.That(labels.OrderBy(v => v), Is.EqualTo(Enumerable.Range(100, 6).Select(v => (float)v)));
            for (int i = 0; i < 6; i++) Assert.That(data[4 * i], Is.EqualTo(labels[i] - 100), "the image goes with its label");
            seen.Add(labels);
        }
        Assert.That(seen[0], Is.Not.EqualTo(Enumerable.Range(100, 6).Select(v => (float)v)).Or.Not.EqualTo(seen[1]));
        var (plain, pt) = SetUp(Param(list, 6, ip => ip.IsColor = false));
        Assert.That(Forward(plain, pt).labels, Is.EqualTo(Enumerable.Range(100, 6).Select(v => (float)v)));
    }

    [Test]
    public void CropAndMirror()
    {
        Write("g.pgm", Encoding.ASCII.GetBytes("P5 3 3 255\n").Concat(Enumerable.Range(0, 9).Select(i => (byte)i)).ToArray());
        var tp = new TransformationParameter { CropSize = 1, Scale = 2, MeanValue = { 1 } };
        var (test, tt) = SetUp(Param(List("g.pgm 0"), 1, ip => ip.IsColor = false, tp, Phase.Test));
        Assert.That(Forward(test, tt).data, Is.EqualTo(new float[] { (4 - 1) * 2 }), "centre crop in TEST");
        var seenTrain = new HashSet<float>();
        var (train, trt) = SetUp(Param(List("g.pgm 0"), 1, ip => ip.IsColor = false, tp));
        for (int i = 0; i < 200; i++) seenTrain.Add(Forward(train, trt).data[0]);
        Assert.That(seenTrain, Is.EquivalentTo(Enumerable.Range(0, 9).Select(v => (v - 1f) * 2)), "random crops in TRAIN");
        var mirror = new TransformationParameter { Mirror = true };
        var (m, mt) = SetUp(Param(List("g.pgm 0"), 1, ip => ip.IsColor = false, mirror));
        var flips = new HashSet<float>();
        for (int i = 0; i < 50; i++)
        {
            var d = Forward(m, mt).data;
            Assert.That(d[0] == 0 && d[2] == 2 || d[0] == 2 && d[2] == 0, Is.True);
            flips.Add(d[0]);
        }
        Assert.That(flips, Is.EquivalentTo(new float[] { 0, 2 }));
    }

    [Test]
    public void StateRestoreContinuesWithTheSameBatches()
    {
        var list = GrayImages(5);
        var tp = new TransformationParameter { Mirror = true };
        LayerParameter P() => Param(list, 2, ip => { ip.Shuffle = true; ip.IsColor = false; }, tp);
        var (a, at) = SetUp(P(), seed: 9);
        Forward(a, at);
        Forward(a, at);
        var state = a.SaveState();
        var expected = Enumerable.Range(0, 4).Select(_ => Forward(a, at)).ToList();
        var (b, bt) = SetUp(P(), seed: 123);
        b.LoadState(state);
        for (int i = 0; i < 4; i++)
        {
            var (d, l) = Forward(b, bt);
            Assert.That(d, Is.EqualTo(expected[i].data));
            Assert.That(l, Is.EqualTo(expected[i].labels));
        }
        Assert.That(((ImageDataLayer)b).Epoch, Is.EqualTo(((ImageDataLayer)a).Epoch));
        var (c, _) = SetUp(Param(GrayImagesIn(3), 1, ip => ip.IsColor = false));
        Assert.That(() => c.LoadState(state), Throws.InstanceOf<EngineException>().With.Message.Contains("list of 5 images").And.Message.Contains("has 3"));
        Assert.That(() => c.LoadState([1, 2, 3]), Throws.InstanceOf<EngineException>().With.Message.Contains("not an ImageData layer's state"));
    }

    private string GrayImagesIn(int n)
    {
        var lines = Enumerable.Range(0, n).Select(i => $"d/{i}.pgm {i}");
        for (int i = 0; i < n; i++) Write($"d/{i}.pgm", Encoding.ASCII.GetBytes("P5 1 1 255\n\x05"));
        return Write("list3.txt", Encoding.ASCII.GetBytes(string.Join("\n", lines)));
    }

    private void ExpectError(LayerParameter p, bool atForward, params string[] parts)
    {
        TestDelegate act = atForward
            ? () => { var (l, t) = SetUp(p); Forward(l, t); }
        : () => SetUp(p);
        var e = Assert.Throws<EngineException>(act)!;
        Assert.That(e.Message, Does.StartWith("layer \"img\" (ImageData): "));
        foreach (var part in parts) Assert.That(e.Message, Does.Contain(part));
    }

    [Test]
    public void ErrorsNameTheLayerTheListLineAndTheImage()
    {
        Write("ok.pgm", Encoding.ASCII.GetBytes("P5 2 2 255\n\x01\x02\x03\x04"));
        Write("big.pgm", Encoding.ASCII.GetBytes("P5 3 2 255\n\x01\x02\x03\x04\x05\x06"));
        Write("bad.jpg", [0xFF, 0xD8, 0xFF, 0xE0, 0, 0]);
        Write("weird.bin", [1, 2, 3]);
        Write("trunc.pgm", Encoding.ASCII.GetBytes("P5 2 2 255\n\x01"));
        Write("crc.png", Png(1, 1, 0, [5], breakCrc: true));
        Write("sixteen.pgm", Encoding.ASCII.GetBytes("P5 1 1 65535\n\x00\x01"));
        Write("interlaced.png", Png(1, 1, 0, [5], editHeader: h => h[12] = 1));
        Write("deep.png", Png(1, 1, 0, [5], editHeader: h => h[8] = 16));
        Write("filter.png", Png(2, 1, 0, [5, 6], filters: [5]));
        Write("nopal.png", Png(1, 1, 3, [0]));
        string list = Path.Combine(_dir, "list.txt");
        ExpectError(Param(List("interlaced.png 0"), 1), false, "interlaced.png", "unsupported format", "interlaced");
        ExpectError(Param(List("deep.png 0"), 1), false, "deep.png", "unsupported format", "bit depth 16");
        ExpectError(Param(List("filter.png 0"), 1), false, "filter.png", "is corrupt", "filter type 5");
        ExpectError(Param(List("nopal.png 0"), 1), false, "nopal.png", "is corrupt", "no PLTE");

        ExpectError(Param(Path.Combine(_dir, "none.txt"), 1), false, "list file", "none.txt", "does not exist");
        ExpectError(Param(List("ok.pgm 1", "missing.pgm 2"), 2), true, $"list file \"{list}\" line 2", "missing.pgm", "does not exist");
        ExpectError(Param(List("ok.pgm 1", "", "bad.jpg 2"), 2), true, "line 3", "bad.jpg", "unsupported format", "JPEG");
        ExpectError(Param(List("weird.bin 0"), 1), false, "line 1", "weird.bin", "unsupported format", "unknown image format");
        ExpectError(Param(List("sixteen.pgm 0"), 1), false, "sixteen.pgm", "unsupported format", "maxval 65535");
        ExpectError(Param(List("trunc.pgm 0"), 1), false, "trunc.pgm", "is corrupt", "truncated");
        ExpectError(Param(List("crc.png 0"), 1), false, "crc.png", "is corrupt", "bad CRC");
        ExpectError(Param(List("ok.pgm 1", "big.pgm 2"), 2), true, "line 2", "big.pgm", "is 2×3", "first image", "ok.pgm", "is 2×2", "new_height");
        ExpectError(Param(List("ok.pgm"), 1), false, "line 1", "has no label");
        ExpectError(Param(List("ok.pgm x"), 1), false, "line 1", "label \"x\" is not an integer");
        ExpectError(Param(List(""), 1), false, "has no images");
        ExpectError(Param(List("ok.pgm 1"), 1, ip => ip.NewHeight = 4), false, "both new_height and new_width");
        var noParam = new LayerParameter { Name = "img", Type = "ImageData" };
        ExpectError(noParam, false, "image_data_param is missing");

        // With resizing, differently sized images are fine.
        var (l, t) = SetUp(Param(List("ok.pgm 1", "big.pgm 2"), 2, ip => { ip.NewHeight = 2; ip.NewWidth = 2; }));
        Assert.That(Forward(l, t).labels, Is.EqualTo(new float[] { 1, 2 }));
    }
}
