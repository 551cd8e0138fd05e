using System.IO.Compression;
using Engine.Core;
using Engine.Layers;
using Engine.Proto;
using Engine.Tests.Support;
using NUnit.Framework;

namespace Engine.Tests.Layers.Data;

/// <summary>
/// The Data layer with backend IDX, on small IDX files written here: five 3×4 images whose
/// pixel (y, x) of image i is 10·i + 4·y + x, and label i.
/// </summary>
[TestFixture]
public class DataLayerTests
{
    private const int N = 5, H = 3, W = 4;
    private string _dir = "";

    [SetUp]
    public void MakeDir()
    {
        Log.Quiet = true;
        _dir = Path.Combine(Path.GetTempPath(), "engine-data-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(_dir);
    }

    [TearDown]
    public void RemoveDir()
    {
        Log.Writer = Console.Out;
        Log.Quiet = true;
        Directory.Delete(_dir, recursive: true);
    }

    private static byte Pixel(int i, int y, int x) => (byte)(10 * i + 4 * y + x);

    private (string images, string labels) Files(bool gzip = false, int n = N, string sub = "a")
    {
        var images = new byte[n, H, W];
        var labels = new byte[n];
        for (int i = 0; i < n; i++)
        {
            labels[i] = (byte)i;
            for (int y = 0; y < H; y++)
                for (int x = 0; x < W; x++) images[i, y, x] = Pixel(i, y, x);
        }
        return IdxFiles.Write(Path.Combine(_dir, sub), images, labels, gzip);
    }

    private static LayerParameter Param(string images, string? labels, int batch, Phase phase = Phase.Train,
        TransformationParameter? transform = null, Action<DataParameter>? configure = null)
    {
        var dp = new DataParameter { Source = images, Backend = DataParameter.Types.DB.Idx, BatchSize = (uint)batch };
        if (labels != null) dp.LabelSource = labels;
        configure?.Invoke(dp);
        var p = new LayerParameter { Name = "mnist", Type = "Data", DataParam = dp, Phase = phase };
        if (transform != null) p.TransformParam = transform;
        return p;
    }

    private static (Layer layer, List<Blob> tops) SetUp(LayerParameter p, ulong seed = 1, int tops = 2)
    {
        var layer = LayerRegistry.Create(p);
        layer.Rng = new Rng(seed);
        var t = new List<Blob> { new("data") };
        if (tops > 1) t.Add(new Blob("label"));
        layer.SetUp(new List<Blob>(), t);
        return (layer, t);
    }

    private static float[] Labels(Layer layer, List<Blob> tops)
    {
        layer.Forward(new List<Blob>(), tops);
        return tops[1].Data.ToArray();
    }

    [TestCase(false)]
    [TestCase(true)]
    public void ShapesAndRawValues(bool gzip)
    {
        var (images, labels) = Files(gzip);
        var (layer, tops) = SetUp(Param(images, labels, 2));
        Assert.That(layer, Is.InstanceOf<DataLayer>());
        Assert.That(tops[0].Shape, Is.EqualTo(new[] { 2, 1, H, W }));
        Assert.That(tops[1].Shape, Is.EqualTo(new[] { 2 }));
        layer.Forward(new List<Blob>(), tops);
        var expected = new float[2 * H * W];
        for (int i = 0; i < 2; i++)
            for (int y = 0; y < H; y++)
                for (int x = 0; x < W; x++) expected[(i * H + y) * W + x] = Pixel(i, y, x);
        Assert.That(tops[0].Data.ToArray(), Is.EqualTo(expected));
        Assert.That(tops[1].Data.ToArray(), Is.EqualTo(new float[] { 0, 1 }));
    }

    [Test]
    public void GzipIsDetectedByItsMagicBytesNotTheName()
    {
        var (images, labels) = Files(gzip: true);
        var plainName = Path.Combine(_dir, "images.idx");
        var gzName = Path.Combine(_dir, "labels.gz");
        File.Move(images, plainName);                  // gzipped, named like a plain file
        using (var src = new GZipStream(File.OpenRead(labels), CompressionMode.Decompress))
        using (var dst = File.Create(gzName))          // plain, named .gz
            src.CopyTo(dst);
        var (layer, tops) = SetUp(Param(plainName, gzName, N));
        Assert.That(Labels(layer, tops), Is.EqualTo(new float[] { 0, 1, 2, 3, 4 }));
        Assert.That(tops[0].Data[W + 1], Is.EqualTo((float)Pixel(0, 1, 1)));
    }

    [Test]
    public void ScaleAndMeanValue()
    {
        var (images, labels) = Files();
        var tp = new TransformationParameter { Scale = 0.00390625f, MeanValue = { 7.5f } };
        var (layer, tops) = SetUp(Param(images, labels, 3, transform: tp));
        layer.Forward(new List<Blob>(), tops);
        var d = tops[0].Data;
        for (int i = 0; i < 3; i++)
            for (int y = 0; y < H; y++)
                for (int x = 0; x < W; x++)
                    Assert.That(d[(i * H + y) * W + x], Is.EqualTo((Pixel(i, y, x) - 7.5f) * 0.00390625f), $"image {i} ({y}, {x})");
        Assert.That(d[0], Is.EqualTo(-7.5f / 256));
        Assert.That(d[2 * H * W + 2 * W + 3], Is.EqualTo((20 + 8 + 3 - 7.5f) / 256));
    }

    [Test]
    public void LegacyTransformFieldsInDataParamAreMovedToTransformParam()
    {
        var (images, labels) = Files();
        var (layer, tops) = SetUp(Param(images, labels, 1, configure: dp => dp.Scale = 0.5f));
        layer.Forward(new List<Blob>(), tops);
        Assert.That(tops[0].Data[1], Is.EqualTo(0.5f));
        var clash = Param(images, labels, 1, transform: new TransformationParameter { Scale = 2 }, configure: dp => dp.Scale = 0.5f);
        var e = Assert.Throws<EngineException>(() => SetUp(clash))!;
        Assert.That(e.Message, Does.Contain("\"mnist\"").And.Contain("scale"));
    }

    [Test]
    public void BatchesWrapAroundTheEndInFileOrder()
    {
        var (images, labels) = Files();
        var (layer, tops) = SetUp(Param(images, labels, 2));
        var seen = new List<float>();
        for (int b = 0; b < 6; b++) seen.AddRange(Labels(layer, tops));
        Assert.That(seen, Is.EqualTo(new float[] { 0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 0, 1 }));
        // The images follow the labels: batch 3 holds images 4 and 0.
        var (l2, t2) = SetUp(Param(images, labels, 2));
        for (int b = 0; b < 3; b++) l2.Forward(new List<Blob>(), t2);
        Assert.That(t2[0].Data[0], Is.EqualTo((float)Pixel(4, 0, 0)));
        Assert.That(t2[0].Data[H * W + 5], Is.EqualTo((float)Pixel(0, 1, 1)));
        Assert.That(((DataLayer)l2).Epoch, Is.EqualTo(1));
    }

    [Test]
    public void BatchLargerThanTheDatasetWraps()
    {
        var (images, labels) = Files();
        var (layer, tops) = SetUp(Param(images, labels, 7));
        Assert.That(Labels(layer, tops), Is.EqualTo(new float[] { 0, 1, 2, 3, 4, 0, 1 }));
        Assert.That(Labels(layer, tops), Is.EqualTo(new float[] { 2, 3, 4, 0, 1, 2, 3 }));
    }

    [Test]
    public void ShuffleVisitsEveryRecordOncePerEpochInANewOrder()
    {
        const int n = 40;
        var (images, labels) = Files(n: n);
        var (layer, tops) = SetUp(Param(images, labels, n, configure: dp => dp.Shuffle = true), seed: 3);
        var epochs = new List<float[]>();
        for (int e = 0; e < 3; e++) epochs.Add(Labels(layer, tops));
        var identity = Enumerable.Range(0, n).Select(i => (float)i).ToArray();
        foreach (var ep in epochs)
        {
            Assert.That(ep.Order().ToArray(), Is.EqualTo(identity), "each epoch is a permutation");
            Assert.That(ep, Is.Not.EqualTo(identity), "the order is shuffled");
        }
        Assert.That(epochs[1], Is.Not.EqualTo(epochs[0]));
        Assert.That(epochs[2], Is.Not.EqualTo(epochs[1]));
        // The images travel with their labels.
        for (int i = 0; i < n; i++)
            Assert.That(tops[0].Data[i * H * W + W], Is.EqualTo((float)Pixel((int)epochs[2][i], 1, 0)));
    }

    [Test]
    public void ShuffleAcrossBatchBoundariesAndSeeds()
    {
        var (images, labels) = Files();
        var (a, ta) = SetUp(Param(images, labels, 3, configure: dp => dp.Shuffle = true), seed: 11);
        var (b, tb) = SetUp(Param(images, labels, 3, configure: dp => dp.Shuffle = true), seed: 11);
        var (c, tc) = SetUp(Param(images, labels, 3, configure: dp => dp.Shuffle = true), seed: 12);
        var sa = new List<float>(); var sb = new List<float>(); var sc = new List<float>();
        for (int i = 0; i < 10; i++) { sa.AddRange(Labels(a, ta)); sb.AddRange(Labels(b, tb)); sc.AddRange(Labels(c, tc)); }
        Assert.That(sa, Is.EqualTo(sb), "same seed, same order");
        Assert.That(sa, Is.Not.EqualTo(sc), "another seed, another order");
        for (int e = 0; e < 6; e++)
            Assert.That(sa.Skip(5 * e).Take(5).Order(), Is.EqualTo(new float[] { 0, 1, 2, 3, 4 }), $"epoch {e}");
    }

    [Test]
    public void ShuffleIsIgnoredInTheTestPhase()
    {
        var (images, labels) = Files();
        var (layer, tops) = SetUp(Param(images, labels, 5, Phase.Test, configure: dp => dp.Shuffle = true));
        Assert.That(Labels(layer, tops), Is.EqualTo(new float[] { 0, 1, 2, 3, 4 }));
        Assert.That(Labels(layer, tops), Is.EqualTo(new float[] { 0, 1, 2, 3, 4 }));
    }

    [Test]
    public void RandSkipStartsAtARandomRecordBelowIt()
    {
        var (images, labels) = Files();
        var firsts = new HashSet<float>();
        for (ulong seed = 1; seed <= 40; seed++)
        {
            var (layer, tops) = SetUp(Param(images, labels, 2, configure: dp => dp.RandSkip = 3), seed);
            var l = Labels(layer, tops);
            Assert.That(l[0], Is.LessThan(3));
            Assert.That(l[1], Is.EqualTo(l[0] + 1));
            firsts.Add(l[0]);
        }
        Assert.That(firsts, Is.EquivalentTo(new float[] { 0, 1, 2 }));
    }

    [Test]
    public void CentreCropInTest()
    {
        var (images, labels) = Files();
        var tp = new TransformationParameter { CropSize = 2 };
        var (layer, tops) = SetUp(Param(images, labels, 2, Phase.Test, tp));
        Assert.That(tops[0].Shape, Is.EqualTo(new[] { 2, 1, 2, 2 }));
        layer.Forward(new List<Blob>(), tops);
        // 3×4 → 2×2: row offset (3−2)/2 = 0, column offset (4−2)/2 = 1.
        // Image 0 rows: [0 1 2 3] [4 5 6 7] [8 9 10 11]; image 1 adds 10.
        Assert.That(tops[0].Data.ToArray(), Is.EqualTo(new float[] { 1, 2, 5, 6, 11, 12, 15, 16 }));
    }

    [Test]
    public void RandomCropInTrainCoversEveryWindow()
    {
        var (images, labels) = Files();
        var tp = new TransformationParameter { CropSize = 2, Scale = 1 };
        var (layer, tops) = SetUp(Param(images, labels, 1, Phase.Train, tp));
        var offsets = new HashSet<(int, int)>();
        for (int k = 0; k < 200; k++)
        {
            layer.Forward(new List<Blob>(), tops);
            int img = (int)tops[1].Data[0];
            var d = tops[0].Data;
            // Find the window: the top-left value tells the offset.
            int v = (int)d[0] - 10 * img, hOff = v / 4, wOff = v % 4;
            Assert.That(hOff, Is.InRange(0, 1)); Assert.That(wOff, Is.InRange(0, 2));
            for (int y = 0; y < 2; y++)
                for (int x = 0; x < 2; x++)
                    Assert.That(d[y * 2 + x], Is.EqualTo((float)Pixel(img, y + hOff, x + wOff)));
            offsets.Add((hOff, wOff));
        }
        Assert.That(offsets, Has.Count.EqualTo(6), "all 2×3 crop positions occur");
    }

    [Test]
    public void CropLargerThanTheImagesIsAnError()
    {
        var (images, labels) = Files();
        var e = Assert.Throws<EngineException>(() => SetUp(Param(images, labels, 2, transform: new TransformationParameter { CropSize = 4 })))!;
        Assert.That(e.Message, Does.Contain("\"mnist\"").And.Contain("crop_size 4").And.Contain("3×4"));
    }

    [TestCase(Phase.Train)]
    [TestCase(Phase.Test)]
    public void MirrorFlipsAtRandomInBothPhases(Phase phase)
    {
        // Caffe flips with probability 1/2 in TEST nets too when mirror: true; we do the same.
        var (images, labels) = Files();
        var tp = new TransformationParameter { Mirror = true };
        var (layer, tops) = SetUp(Param(images, labels, 1, phase, tp));
        int flipped = 0, plain = 0;
        for (int k = 0; k < 100; k++)
        {
            layer.Forward(new List<Blob>(), tops);
            int img = (int)tops[1].Data[0];
            var d = tops[0].Data.ToArray();
            var straight = new float[H * W];
            var mirrored = new float[H * W];
            for (int y = 0; y < H; y++)
                for (int x = 0; x < W; x++)
                {
                    straight[y * W + x] = Pixel(img, y, x);
                    mirrored[y * W + x] = Pixel(img, y, W - 1 - x);
                }
            if (d.SequenceEqual(straight)) plain++;
            else if (d.SequenceEqual(mirrored)) flipped++;
            else Assert.Fail($"forward {k}: neither image {img} nor its mirror: {string.Join(" ", d)}");
        }
        Assert.That(flipped, Is.InRange(25, 75));
        Assert.That(plain, Is.EqualTo(100 - flipped));
    }

    [Test]
    public void MirrorWithCropMeanAndScaleInTest()
    {
        var (images, labels) = Files();
        var tp = new TransformationParameter { Mirror = true, CropSize = 2, MeanValue = { 1 }, Scale = 0.5f };
        var (layer, tops) = SetUp(Param(images, labels, 1, Phase.Test, tp));
        var seen = new HashSet<string>();
        for (int k = 0; k < 50; k++)
        {
            layer.Forward(new List<Blob>(), tops);
            if ((int)tops[1].Data[0] == 0) seen.Add(string.Join(" ", tops[0].Data.ToArray()));
        }
        // Centre window of image 0 is [1 2; 5 6] → (v − 1)·0.5; mirrored: [2 1; 6 5].
        Assert.That(seen, Is.EquivalentTo(new[] { "0 0.5 2 2.5", "0.5 0 2.5 2" }));
    }

    [Test]
    public void RestoredStateContinuesWithTheSameBatches()
    {
        var (images, labels) = Files(n: 11);
        var tp = new TransformationParameter { Mirror = true, CropSize = 2, Scale = 0.25f };
        var p = Param(images, labels, 3, Phase.Train, tp, dp => dp.Shuffle = true);
        var (a, ta) = SetUp(p, seed: 99);
        for (int i = 0; i < 7; i++) a.Forward(new List<Blob>(), ta);
        var state = a.SaveState();
        var expected = new List<(float[] data, float[] labels)>();
        for (int i = 0; i < 5; i++)
        {
            a.Forward(new List<Blob>(), ta);
            expected.Add((ta[0].Data.ToArray(), ta[1].Data.ToArray()));
        }

        var (b, tb) = SetUp(p, seed: 12345);       // another generator: everything must come from the state
        b.LoadState(state);
        for (int i = 0; i < 5; i++)
        {
            b.Forward(new List<Blob>(), tb);
            Assert.That(BitsOf(tb[0].Data.ToArray()), Is.EqualTo(BitsOf(expected[i].data)), $"data of batch {i}");
            Assert.That(tb[1].Data.ToArray(), Is.EqualTo(expected[i].labels), $"labels of batch {i}");
        }
        Assert.That(((DataLayer)b).Epoch, Is.EqualTo(((DataLayer)a).Epoch));
        Assert.That(((DataLayer)b).Cursor, Is.EqualTo(((DataLayer)a).Cursor));
    }

    private static int[] BitsOf(float[] v) => v.Select(BitConverter.SingleToInt32Bits).ToArray();

    [Test]
    public void StateFromAnotherDatasetOrModeIsRefused()
    {
        var (images, labels) = Files();
        var small = Files(n: 4, sub: "b");
        var (a, _) = SetUp(Param(images, labels, 2, configure: dp => dp.Shuffle = true));
        var state = a.SaveState();

        var (other, _) = SetUp(Param(small.images, small.labels, 2, configure: dp => dp.Shuffle = true));
        var e = Assert.Throws<EngineException>(() => other.LoadState(state))!;
        Assert.That(e.Message, Does.Contain("\"mnist\"").And.Contain("5 records"));

        var (unshuffled, _) = SetUp(Param(images, labels, 2));
        e = Assert.Throws<EngineException>(() => unshuffled.LoadState(state))!;
        Assert.That(e.Message, Does.Contain("shuffle"));

        e = Assert.Throws<EngineException>(() => a.LoadState(new byte[32]))!;
        Assert.That(e.Message, Does.Contain("not a Data layer's state"));
    }

    [Test]
    public void ForwardDoesNotAllocate()
    {
        var (images, labels) = Files(n: 50);
        var tp = new TransformationParameter { Mirror = true, CropSize = 2, Scale = 0.5f, MeanValue = { 3 } };
        var (layer, tops) = SetUp(Param(images, labels, 8, Phase.Train, tp, dp => dp.Shuffle = true));
        var none = new List<Blob>();
        for (int i = 0; i < 20; i++) layer.Forward(none, tops);   // warm up (JIT)
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 100; i++) layer.Forward(none, tops);   // crosses several epochs
        long after = GC.GetAllocatedBytesForCurrentThread();
        Assert.That(after - before, Is.Zero);
    }

    [Test]
    public void OneTopNeedsNoLabels()
    {
        var (images, _) = Files();
        var (layer, tops) = SetUp(Param(images, null, 2), tops: 1);
        layer.Forward(new List<Blob>(), tops);
        Assert.That(tops[0].Shape, Is.EqualTo(new[] { 2, 1, H, W }));
        Assert.That(tops[0].Data[H * W], Is.EqualTo((float)Pixel(1, 0, 0)));
    }

    [Test]
    public void SetUpLogsTheDataset()
    {
        var (images, labels) = Files();
        var log = new StringWriter();
        Log.Writer = log;
        Log.Quiet = false;
        SetUp(Param(images, labels, 2, configure: dp => dp.Shuffle = true));
        Assert.That(log.ToString(), Does.Contain($"Data layer \"mnist\": 5 images 3×4 from {images}").And.Contain("batch 2").And.Contain("shuffled"));
    }

    // ------------------------------------------------------------------ errors

    private static string Message(LayerParameter p, int tops = 2) => Assert.Throws<EngineException>(() => SetUp(p, tops: tops))!.Message;

    [Test]
    public void MissingFilesAreNamed()
    {
        var (images, labels) = Files();
        var gone = Path.Combine(_dir, "nope-idx3-ubyte.gz");
        var m = Message(Param(gone, labels, 2));
        Assert.That(m, Does.Contain("layer \"mnist\"").And.Contain(gone).And.Contain("no such file").And.Contain("source"));
        m = Message(Param(images, gone, 2));
        Assert.That(m, Does.Contain("layer \"mnist\"").And.Contain(gone).And.Contain("label_source"));
        m = Message(Param("relative/x-idx3-ubyte", labels, 2));
        Assert.That(m, Does.Contain("relative/x-idx3-ubyte").And.Contain("current directory"));
    }

    [TestCase(false)]
    [TestCase(true)]
    public void BadMagicIsReported(bool gzip)
    {
        var (images, labels) = Files(gzip);
        // The two files swapped: each has the other's magic.
        var m = Message(Param(labels, images, 2));
        Assert.That(m, Does.Contain("layer \"mnist\"").And.Contain(labels).And.Contain("0x00000801").And.Contain("expected 0x00000803").And.Contain("labels file"));
        var junk = Path.Combine(_dir, "junk");
        File.WriteAllBytes(junk, [0x12, 0x34, 0x56, 0x78, 0, 0, 0, 0]);
        m = Message(Param(images, junk, 2));
        Assert.That(m, Does.Contain("layer \"mnist\"").And.Contain(junk).And.Contain("bad magic number 0x12345678").And.Contain("expected 0x00000801"));
    }

    [Test]
    public void CountMismatchIsReported()
    {
        var (images, _) = Files();
        var (_, labels4) = Files(n: 4, sub: "b");
        var m = Message(Param(images, labels4, 2));
        Assert.That(m, Does.Contain("layer \"mnist\"").And.Contain("5 images").And.Contain("4 labels").And.Contain(images).And.Contain(labels4));
    }

    [TestCase(false)]
    [TestCase(true)]
    public void TruncatedFilesAreReported(bool gzip)
    {
        var (images, labels) = Files(gzip);
        var raw = gzip ? Gunzip(images) : File.ReadAllBytes(images);
        var cut = Path.Combine(_dir, "cut" + (gzip ? ".gz" : ""));
        WriteMaybeGzip(cut, raw[..(raw.Length - 7)], gzip);
        var m = Message(Param(cut, labels, 2));
        Assert.That(m, Does.Contain("layer \"mnist\"").And.Contain(cut).And.Contain("truncated").And.Contain($"{N * H * W} bytes").And.Contain($"only {N * H * W - 7}"));
        WriteMaybeGzip(cut, raw[..10], gzip);
        m = Message(Param(cut, labels, 2));
        Assert.That(m, Does.Contain("truncated").And.Contain("header"));
    }

    [Test]
    public void DamagedGzipIsReported()
    {
        var (images, labels) = Files(gzip: true);
        var bytes = File.ReadAllBytes(images);
        var bad = Path.Combine(_dir, "bad.gz");
        File.WriteAllBytes(bad, [.. bytes[..10], .. Enumerable.Repeat((byte)0xFF, 40)]);
        var m = Message(Param(bad, labels, 2));
        Assert.That(m, Does.Contain("layer \"mnist\"").And.Contain(bad));
    }

    [TestCase(DataParameter.Types.DB.Leveldb, "LEVELDB")]
    public void OtherBackendsAreNotYetHere(DataParameter.Types.DB backend, string name)
    {
        var (images, labels) = Files();
        var m = Message(Param(images, labels, 2, configure: dp => dp.Backend = backend));
        Assert.That(m, Does.Contain("layer \"mnist\"").And.Contain($"backend {name}").And.Contain("backend: IDX"));
    }

    [Test]
    public void ParameterMistakes()
    {
        var (images, labels) = Files();
        Assert.That(Message(Param(images, labels, 0)), Does.Contain("batch_size"));
        Assert.That(Message(Param(images, null, 2)), Does.Contain("label_source is missing").And.Contain("\"label\""));
        Assert.That(Message(Param("", labels, 2)), Does.Contain("source is missing"));
        Assert.That(Message(Param(images, labels, 2, transform: new TransformationParameter { MeanFile = "mean.binaryproto" })),
            Does.Contain("layer \"mnist\"").And.Contain("mean_file").And.Contain("no such file"));
        Assert.That(Message(Param(images, labels, 2, transform: new TransformationParameter { MeanValue = { 1, 2 } })),
            Does.Contain("2 mean_value entries for 1-channel data"));
        var noParam = new LayerParameter { Name = "mnist", Type = "Data" };
        Assert.That(Message(noParam), Does.Contain("data_param is missing"));
        var (layer, tops) = (LayerRegistry.Create(Param(images, labels, 2)), new List<Blob> { new("a"), new("b"), new("c") });
        Assert.That(Assert.Throws<EngineException>(() => layer.SetUp(new List<Blob>(), tops))!.Message, Does.Contain("at most 2 tops"));
    }

    // ------------------------------------------------------------------ the real data

    [Test]
    public void ReadsFashionMnistTestSet()
    {
        const string dir = "/usr/share/datasets/fashion-mnist";
        var images = Path.Combine(dir, "t10k-images-idx3-ubyte.gz");
        var labels = Path.Combine(dir, "t10k-labels-idx1-ubyte.gz");
        if (!File.Exists(images) || !File.Exists(labels))
            Assert.Ignore("Fashion-MNIST is not installed (Debian package dataset-fashion-mnist)");
        var tp = new TransformationParameter { Scale = 0.00390625f };
        var (layer, tops) = SetUp(Param(images, labels, 100, Phase.Test, tp));
        Assert.That(((DataLayer)layer).Records, Is.EqualTo(10000));
        Assert.That(tops[0].Shape, Is.EqualTo(new[] { 100, 1, 28, 28 }));
        var counts = new int[10];
        float min = float.MaxValue, max = float.MinValue;
        for (int b = 0; b < 100; b++)
        {
            layer.Forward(new List<Blob>(), tops);
            foreach (var l in tops[1].Data)
            {
                Assert.That(l, Is.EqualTo(MathF.Floor(l)).And.InRange(0f, 9f));
                counts[(int)l]++;
            }
            foreach (var v in tops[0].Data) { min = Math.Min(min, v); max = Math.Max(max, v); }
        }
        Assert.That(counts, Is.All.EqualTo(1000), "Fashion-MNIST's test set has 1000 images per class");
        Assert.That(min, Is.EqualTo(0f));
        Assert.That(max, Is.EqualTo(255f / 256).Within(1e-6f));
        Assert.That(((DataLayer)layer).Epoch, Is.EqualTo(0));
        Assert.That(((DataLayer)layer).Cursor, Is.EqualTo(10000));
    }

    private static byte[] Gunzip(string path)
    {
        using var src = new GZipStream(File.OpenRead(path), CompressionMode.Decompress);
        using var ms = new MemoryStream();
        src.CopyTo(ms);
        return ms.ToArray();
    }

    private static void WriteMaybeGzip(string path, byte[] bytes, bool gzip)
    {
        if (!gzip) { File.WriteAllBytes(path, bytes); return; }
        using var f = File.Create(path);
        using var gz = new GZipStream(f, CompressionLevel.Fastest);
        gz.Write(bytes);
    }
}
