using System.Text;
using Engine.Core;
using Engine.Layers;
using Engine.Proto;
using NUnit.Framework;

namespace Engine.Tests.Layers.Data;

/// <summary>
/// The WindowData layer on window files and PPM images written here; crops, warps and context
/// padding are checked against values worked out by hand from Caffe's window geometry.
/// </summary>
[TestFixture]
public class WindowDataLayerTests
{
    private string _dir = "";

    [SetUp]
    public void MakeDir()
    {
        Log.Quiet = true;
        _dir = Path.Combine(Path.GetTempPath(), "engine-window-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(_dir);
        // "ramp.ppm": 6 wide, 4 tall; pixel (x, y) has R = 10x + 40y, G = 255 − R, B = 3x + y.
        WritePpm("ramp.ppm", 6, 4, (x, y) => (10 * x + 40 * y, 255 - 10 * x - 40 * y, 3 * x + y));
        // "flat.ppm": 6 × 4 of one colour R 200, G 100, B 50.
        WritePpm("flat.ppm", 6, 4, (_, _) => (200, 100, 50));
    }

    [TearDown]
    public void RemoveDir() => Directory.Delete(_dir, recursive: true);

    private static (int r, int g, int b) Ramp(int x, int y) => (10 * x + 40 * y, 255 - 10 * x - 40 * y, 3 * x + y);

    private static float Bgr((int r, int g, int b) px, int c) => c switch { 0 => px.b, 1 => px.g, _ => px.r };

    private void WritePpm(string name, int w, int h, Func<int, int, (int r, int g, int b)> pixel)
    {
        var bytes = new List<byte>(Encoding.ASCII.GetBytes($"P6\n{w} {h}\n255\n"));
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
            {
                var (r, g, b) = pixel(x, y);
                bytes.AddRange([(byte)r, (byte)g, (byte)b]);
            }
        File.WriteAllBytes(Path.Combine(_dir, name), bytes.ToArray());
    }

    /// <summary>A window file: each image is (path, windows as "class overlap x1 y1 x2 y2").</summary>
    private string Windows(params (string path, string[] windows)[] images)
    {
        var sb = new StringBuilder();
        for (int i = 0; i < images.Length; i++)
        {
            sb.Append($"# {i}\n{images[i].path}\n3\n4\n6\n{images[i].windows.Length}\n");
            foreach (var w in images[i].windows) sb.Append(w).Append('\n');
        }
        string file = Path.Combine(_dir, "windows.txt");
        File.WriteAllText(file, sb.ToString());
        return file;
    }

    private LayerParameter Param(string source, int batch, int crop, Action<WindowDataParameter>? edit = null, TransformationParameter? tp = null)
    {
        var wp = new WindowDataParameter { Source = source, BatchSize = (uint)batch, RootFolder = _dir + "/", FgFraction = 1 };
        edit?.Invoke(wp);
        var p = new LayerParameter { Name = "win", Type = "WindowData", WindowDataParam = wp, TransformParam = tp ?? new TransformationParameter() };
        p.TransformParam.CropSize = (uint)crop;
        p.Top.AddRange(["data", "label"]);
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

    [Test]
    public void WindowOfCropSizeIsCopiedWithMeanAndScale()
    {
        var tp = new TransformationParameter { Scale = 0.5f, MeanValue = { 1, 2, 3 } };
        var (layer, tops) = SetUp(Param(Windows(("ramp.ppm", ["3 0.9 1 1 2 2"])), 1, 2, tp: tp));
        var (d, l) = Forward(layer, tops);
        Assert.That(tops[0].Shape, Is.EqualTo(new[] { 1, 3, 2, 2 }));
        Assert.That(l, Is.EqualTo(new float[] { 3 }));
        for (int c = 0; c < 3; c++)
            for (int h = 0; h < 2; h++)
                for (int w = 0; w < 2; w++)
                    Assert.That(d[(c * 2 + h) * 2 + w], Is.EqualTo((Bgr(Ramp(1 + w, 1 + h), c) - (c + 1)) * 0.5f), $"c{c} h{h} w{w}");
    }

    [Test]
    public void MeanFileCentreIsSubtracted()
    {
        // A 1×3×4×4 mean with value 100c + 10h + w; crop 2 uses its centre: rows and columns 1..2.
        var mean = new BlobProto { Shape = new BlobShape { Dim = { 1, 3, 4, 4 } } };
        for (int c = 0; c < 3; c++)
            for (int h = 0; h < 4; h++)
                for (int w = 0; w < 4; w++) mean.Data.Add(100 * c + 10 * h + w);
        string meanFile = Path.Combine(_dir, "mean.binaryproto");
        Engine.IO.WeightsFile.WriteAtomic(meanFile, mean);
        var (layer, tops) = SetUp(Param(Windows(("ramp.ppm", ["3 0.9 1 1 2 2"])), 1, 2, wp => wp.MeanFile = meanFile));
        var d = Forward(layer, tops).data;
        for (int c = 0; c < 3; c++)
            for (int h = 0; h < 2; h++)
                for (int w = 0; w < 2; w++)
                    Assert.That(d[(c * 2 + h) * 2 + w], Is.EqualTo(Bgr(Ramp(1 + w, 1 + h), c) - (100 * c + 10 * (h + 1) + w + 1)), $"c{c} h{h} w{w}");
    }

    [Test]
    public void WarpHalvesAWideWindowWithHalfPixelCentres()
    {
        // Window x 0..3, y 0..1 warped to 2×2: output column w samples x = 2w + 0.5 (the mean of
        // columns 2w and 2w+1), row h samples y = h. B's half values round away from zero.
        var (layer, tops) = SetUp(Param(Windows(("ramp.ppm", ["1 0.9 0 0 3 1"])), 1, 2));
        var (d, _) = Forward(layer, tops);
        for (int h = 0; h < 2; h++)
            for (int w = 0; w < 2; w++)
            {
                Assert.That(d[(2 * 2 + h) * 2 + w], Is.EqualTo(20 * w + 5 + 40 * h), $"R h{h} w{w}");
                Assert.That(d[(1 * 2 + h) * 2 + w], Is.EqualTo(255 - 20 * w - 5 - 40 * h), $"G h{h} w{w}");
                Assert.That(d[(0 * 2 + h) * 2 + w], Is.EqualTo(6 * w + h + 2), $"B h{h} w{w}");
            }
    }

    [Test]
    public void MirrorFlipsSomeWindowsAtRandom()
    {
        var (layer, tops) = SetUp(Param(Windows(("ramp.ppm", ["1 0.9 1 1 2 2"])), 1, 2, tp: new TransformationParameter { Mirror = true }), seed: 4);
        float[] plain = [Ramp(1, 1).b, Ramp(2, 1).b], flipped = [Ramp(2, 1).b, Ramp(1, 1).b];
        int flips = 0;
        for (int i = 0; i < 40; i++)
        {
            var row = Forward(layer, tops).data[..2];
            Assert.That(row, Is.EqualTo(plain).Or.EqualTo(flipped));
            if (row[0] == flipped[0]) flips++;
        }
        Assert.That(flips, Is.InRange(5, 35));
    }

    private static string Pattern(float[] d, int crop) =>
        string.Join("|", Enumerable.Range(0, crop).Select(h => string.Concat(Enumerable.Range(0, crop).Select(w => d[h * crop + w] == 0 ? '.' : '#'))));

    [Test]
    public void ContextPadKeepsTheOutsideZeroAndMirrorsThePadding()
    {
        // Window (0,0)–(1,1), crop 4, context_pad 1: the region grows ×2 about (1,1) to
        // (−1,−1)–(3,3), 5 × 5; clipped to (0,0)–(3,3) and scaled by 4/5 it is 3 × 3 at offset
        // (1, 1). Mirrored, the horizontal padding is the right side's (0).
        var list = Windows(("flat.ppm", ["1 0.9 0 0 1 1"]));
        var tp = new TransformationParameter { MeanValue = { 10 } };
        var (layer, tops) = SetUp(Param(list, 1, 4, wp => wp.ContextPad = 1, tp));
        var d = Forward(layer, tops).data;
        Assert.That(Pattern(d, 4), Is.EqualTo("....|.###|.###|.###"));
        Assert.That(d[5], Is.EqualTo(50 - 10));          // B channel, inside
        Assert.That(d[2 * 16 + 5], Is.EqualTo(200 - 10)); // R channel, inside

        var (mirrored, mt) = SetUp(Param(list, 1, 4, wp => wp.ContextPad = 1, new TransformationParameter { Mirror = true }), seed: 2);
        var seen = new HashSet<string>();
        for (int i = 0; i < 30; i++) seen.Add(Pattern(Forward(mirrored, mt).data, 4));
        Assert.That(seen, Is.EquivalentTo(new[] { "....|.###|.###|.###", "....|###.|###.|###." }));
    }

    [Test]
    public void SquareModeUsesTheLongerSide()
    {
        // Window (0,0)–(3,1) is 4 × 2; square makes it 4 × 4 about (2, 1): (0,−1)–(4,3), 5 × 5,
        // clipped to rows 0..3 → 4 wide × 3 tall after ×4/5, one row of padding on top.
        var (layer, tops) = SetUp(Param(Windows(("flat.ppm", ["1 0.9 0 0 3 1"])), 1, 4, wp => wp.CropMode = "square"));
        Assert.That(Pattern(Forward(layer, tops).data, 4), Is.EqualTo("....|####|####|####"));
    }

    [Test]
    public void BatchesTakeTheForegroundFractionAndRelabelBackground()
    {
        // fg_threshold 0.5, bg_threshold 0.3: classes 1 and 2 are foreground, the 0.1 window of
        // class 5 and the 0.0 window are background (label 0), the 0.4 window of class 7 unused.
        var list = Windows(("ramp.ppm", ["1 0.6 0 0 1 1", "2 0.95 1 1 2 2", "5 0.1 2 0 3 1", "7 0.4 0 2 1 3"]),
                           ("flat.ppm", ["0 0.0 4 2 5 3"]));
        var (layer, tops) = SetUp(Param(list, 8, 2, wp => { wp.FgFraction = 0.25f; wp.FgThreshold = 0.5f; wp.BgThreshold = 0.3f; }), seed: 7);
        Assert.That(((WindowDataLayer)layer).WindowCounts, Is.EqualTo((2, 2)));
        int ones = 0, flatBg = 0;
        for (int i = 0; i < 200; i++)
        {
            var (d, l) = Forward(layer, tops);
            Assert.That(l[..6], Is.All.EqualTo(0f), "the first 8 − ⌊8·0.25⌋ = 6 are background");
            Assert.That(l[6..], Has.All.Matches<float>(v => v == 1 || v == 2));
            ones += l[6..].Count(v => v == 1);
            flatBg += Enumerable.Range(0, 6).Count(k => d[k * 12] == 50);   // B of the flat image's window
        }
        Assert.That(ones, Is.InRange(140, 260), "foreground windows are drawn uniformly (400 draws)");
        Assert.That(flatBg, Is.InRange(480, 720), "background windows are drawn uniformly (1200 draws)");
    }

    [Test]
    public void RestoredGeneratorGivesTheSameBatches()
    {
        var list = Windows(("ramp.ppm", ["1 0.6 0 0 1 1", "2 0.95 1 1 3 3", "0 0.1 2 0 3 1"]));
        LayerParameter P() => Param(list, 4, 2, wp => wp.FgFraction = 0.5f, new TransformationParameter { Mirror = true });
        var (a, at) = SetUp(P(), seed: 3);
        Forward(a, at);
        var state = a.SaveState();
        var expected = Enumerable.Range(0, 5).Select(_ => Forward(a, at)).ToList();
        var (b, bt) = SetUp(P(), seed: 99);
        b.LoadState(state);
        for (int i = 0; i < 5; i++)
        {
            var (d, l) = Forward(b, bt);
            Assert.That(d, Is.EqualTo(expected[i].data));
            Assert.That(l, Is.EqualTo(expected[i].labels));
        }
    }

    [Test]
    public void UserMistakesAreNamed()
    {
        string SetUpError(LayerParameter p) => Assert.Throws<EngineException>(() => SetUp(p))!.Message;
        string Write(string text)
        {
            string f = Path.Combine(_dir, "bad.txt");
            File.WriteAllText(f, text);
            return f;
        }

        Assert.That(SetUpError(Param(Path.Combine(_dir, "none.txt"), 1, 2)), Does.Contain("layer \"win\" (WindowData)").And.Contain("none.txt").And.Contain("does not exist"));
        Assert.That(SetUpError(Param(Write("0\nramp.ppm\n3 4 6\n0\n"), 1, 2)), Does.Contain("line 1").And.Contain("expected \"# image_index\""));
        Assert.That(SetUpError(Param(Write("# 0\nramp.ppm\n3\n4\n6\n2\n1 0.9 0 0 1 1\n1 0.9 0 0 6 1\n"), 1, 2)),
            Does.Contain("line 8").And.Contain("not inside the 6×4"));
        Assert.That(SetUpError(Param(Write("# 0\nramp.ppm\n3\n4\n6\n1\n0 0.9 0 0 1 1\n"), 1, 2)), Does.Contain("line 7").And.Contain("class index > 0"));
        Assert.That(SetUpError(Param(Write("# 0\nramp.ppm\n3\n4\n6\n3\n1 0.9 0 0 1 1\n"), 1, 2)), Does.Contain("file ends where the class index was expected"));
        Assert.That(SetUpError(Param(Windows(("ramp.ppm", ["1 0.9 0 0 1 1"])), 2, 2, wp => wp.FgFraction = 0.5f)), Does.Contain("no background windows"));
        Assert.That(SetUpError(Param(Windows(("ramp.ppm", ["1 0.9 0 0 1 1"])), 1, 0)), Does.Contain("crop_size must be positive"));
        Assert.That(SetUpError(Param(Windows(("ramp.ppm", ["1 0.9 0 0 1 1"])), 1, 4, wp => wp.CropMode = "stretch")), Does.Contain("crop_mode \"stretch\""));

        Assert.That(SetUpError(Param(Windows(("ramp.ppm", ["1 0.9 0 0 1 1"]), ("gone.ppm", [])), 1, 2)), Does.Contain("line 9").And.Contain("gone.ppm\" does not exist"));

        File.WriteAllBytes(Path.Combine(_dir, "photo.jpg"), [0xFF, 0xD8, 0xFF, 0xE0, 0, 16, (byte)'J', (byte)'F', (byte)'I', (byte)'F', 0]);
        var (jpeg, jt) = SetUp(Param(Windows(("photo.jpg", ["1 0.9 0 0 1 1"])), 1, 2));
        var e = Assert.Throws<EngineException>(() => Forward(jpeg, jt))!;
        Assert.That(e.Message, Does.Contain("line 2").And.Contain("photo.jpg").And.Contain("JPEG is not supported"));

        WritePpm("small.ppm", 3, 2, (_, _) => (1, 2, 3));
        var (small, st) = SetUp(Param(Windows(("small.ppm", ["1 0.9 0 0 1 1"])), 1, 2));
        e = Assert.Throws<EngineException>(() => Forward(small, st))!;
        Assert.That(e.Message, Does.Contain("small.ppm").And.Contain("is 2×3 (height×width) but the window file says 4×6"));
    }
}
