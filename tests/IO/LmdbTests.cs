using Engine.Core;
using Engine.IO;
using Engine.Layers;
using Engine.Proto;
using Engine.Tests.Support;
using Google.Protobuf;
using NUnit.Framework;

namespace Engine.Tests.IO;

/// <summary>
/// LMDB through liblmdb: databases made by `engine convert --idx` from small IDX files, read back
/// by the Data layer (the same values as the IDX backend), mean files, and the errors.
/// Five 3×4 images: pixel (y, x) of image i is 10·i + 4·y + x, label i.
/// </summary>
[TestFixture]
[NonParallelizable]
public class LmdbTests
{
    private const int N = 5, H = 3, W = 4;
    private string _dir = "";

    [SetUp]
    public void MakeDir()
    {
        if (!Lmdb.IsAvailable) Assert.Ignore("liblmdb is not installed (Debian: apt-get install liblmdb0); CI installs it");
        Log.Quiet = true;
        _dir = Path.Combine(Path.GetTempPath(), "engine-lmdb-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(_dir);
    }

    [TearDown]
    public void RemoveDir()
    {
        if (_dir.Length > 0 && Directory.Exists(_dir)) Directory.Delete(_dir, recursive: true);
    }

    private static byte Pixel(int i, int y, int x) => (byte)(10 * i + 4 * y + x);

    private (string images, string labels) Idx(int n = N)
    {
        var images = new byte[n, H, W];
        var labels = new byte[n];
        for (int i = 0; i < n; i++)
        {
            labels[i] = (byte)i;
            for (int y = 0; y < H; y++)
                for (int x = 0; x < W; x++) images[i, y, x] = Pixel(i, y, x);
        }
        return IdxFiles.Write(Path.Combine(_dir, "idx"), images, labels, gzip: true);
    }

    private string Convert(int n = N)
    {
        var (images, labels) = Idx(n);
        var db = Path.Combine(_dir, "train_lmdb");
        var (code, _, stderr) = EngineRunner.Run("convert", "--idx", images, labels, db);
        Assert.That(code, Is.EqualTo(0), stderr);
        return db;
    }

    private static LayerParameter Param(string source, DataParameter.Types.DB backend, int batch, string? labels = null,
        TransformationParameter? transform = null, Phase phase = Phase.Train)
    {
        var dp = new DataParameter { Source = source, Backend = backend, BatchSize = (uint)batch };
        if (labels != null) dp.LabelSource = labels;
        var p = new LayerParameter { Name = "mnist", Type = "Data", DataParam = dp, Phase = phase };
        if (transform != null) p.TransformParam = transform;
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

    private static (float[] data, float[] labels) Batch(Layer layer, List<Blob> tops)
    {
        layer.Forward(new List<Blob>(), tops);
        return (tops[0].Data.ToArray(), tops[1].Data.ToArray());
    }

    private static string Message(LayerParameter p) =>
        Assert.Throws<EngineException>(() => SetUp(p))!.Message;

    [Test]
    public void ConvertWritesCaffesKeysAndDatums()
    {
        var db = Convert();
        using var reader = new LmdbReader(db);
        Assert.That(reader.Count, Is.EqualTo(N));
        for (int i = 0; i < N; i++)
        {
            var (key, value) = reader.Next();
            Assert.That(System.Text.Encoding.ASCII.GetString(key), Is.EqualTo(i.ToString("D8")));
            var d = Datum.Parser.ParseFrom(value);
            Assert.That((d.Channels, d.Height, d.Width, d.Label, d.Encoded), Is.EqualTo((1, H, W, i, false)));
            var expected = new byte[H * W];
            for (int y = 0; y < H; y++) for (int x = 0; x < W; x++) expected[y * W + x] = Pixel(i, y, x);
            Assert.That(d.Data.ToByteArray(), Is.EqualTo(expected));
        }
        Assert.That(System.Text.Encoding.ASCII.GetString(reader.Next().key), Is.EqualTo("00000000"), "wraps around");
    }

    [Test]
    public void WriterGrowsTheMapWhenFull()
    {
        var path = Path.Combine(_dir, "big_lmdb");
        using (var w = new LmdbWriter(path, initialMapSize: 64 * 1024))
        {
            for (int i = 0; i < 200; i++) w.Put(System.Text.Encoding.ASCII.GetBytes(i.ToString("D8")), new byte[4000]);
            w.Commit();
            Assert.That(w.MapSize, Is.GreaterThan(64UL * 1024));
        }
        using var r = new LmdbReader(path);
        Assert.That(r.Count, Is.EqualTo(200));
    }

    [TestCase(Phase.Train, 0u, false)]
    [TestCase(Phase.Test, 2u, true)]
    public void DataLayerMatchesTheIdxBackend(Phase phase, uint crop, bool mirror)
    {
        var db = Convert();
        var (images, labels) = Idx();
        var transform = new TransformationParameter { Scale = 0.5f, CropSize = crop, Mirror = mirror, MeanValue = { 3 } };
        var (lmdb, lt) = SetUp(Param(db, DataParameter.Types.DB.Lmdb, 3, transform: transform, phase: phase), seed: 9);
        var (idx, it) = SetUp(Param(images, DataParameter.Types.DB.Idx, 3, labels, transform, phase), seed: 9);
        Assert.That(lt[0].Shape, Is.EqualTo(it[0].Shape));
        Assert.That(((DataLayer)lmdb).Records, Is.EqualTo(N));
        // Four batches of 3 over 5 records: wraps around twice, in key order.
        for (int b = 0; b < 4; b++)
        {
            var (ld, ll) = Batch(lmdb, lt);
            var (id, il) = Batch(idx, it);
            Assert.That(ld, Is.EqualTo(id), $"batch {b}");
            Assert.That(ll, Is.EqualTo(il), $"batch {b}");
            Assert.That(ll, Is.EqualTo(Enumerable.Range(3 * b, 3).Select(k => (float)(k % N)).ToArray()));
        }
    }

    [Test]
    public void StateRestoreContinuesWithTheSameBatches()
    {
        var db = Convert();
        var (a, at) = SetUp(Param(db, DataParameter.Types.DB.Lmdb, 2));
        Batch(a, at);
        Batch(a, at);
        var state = a.SaveState();
        var expected = Enumerable.Range(0, 4).Select(_ => Batch(a, at)).ToList();
        var (b, bt) = SetUp(Param(db, DataParameter.Types.DB.Lmdb, 2), seed: 77);
        b.LoadState(state);
        for (int k = 0; k < expected.Count; k++)
        {
            var (d, l) = Batch(b, bt);
            Assert.That(d, Is.EqualTo(expected[k].data), $"batch {k}");
            Assert.That(l, Is.EqualTo(expected[k].labels), $"batch {k}");
        }
        Assert.That(expected[0].labels, Is.EqualTo(new float[] { 4, 0 }));
    }

    [Test]
    public void FloatDataRecordsAreRead()
    {
        var path = Path.Combine(_dir, "float_lmdb");
        using (var w = new LmdbWriter(path))
        {
            var d = new Datum { Channels = 2, Height = 1, Width = 2, Label = 7, FloatData = { 1.5f, -2f, 0.25f, 8f } };
            w.Put("a"u8.ToArray(), d.ToByteArray());
            w.Commit();
        }
        var (layer, tops) = SetUp(Param(path, DataParameter.Types.DB.Lmdb, 1, transform: new TransformationParameter { Scale = 2 }));
        Assert.That(tops[0].Shape, Is.EqualTo(new[] { 1, 2, 1, 2 }));
        var (data, labels) = Batch(layer, tops);
        Assert.That(data, Is.EqualTo(new[] { 3f, -4f, 0.5f, 16f }));
        Assert.That(labels, Is.EqualTo(new[] { 7f }));
    }

    [Test]
    public void ComputeMeanEqualsTheMeanOfTheRecords()
    {
        var db = Convert();
        var output = Path.Combine(_dir, "mean.binaryproto");
        var (code, _, stderr) = EngineRunner.Run("compute-mean", db, output);
        Assert.That(code, Is.EqualTo(0), stderr);
        var blob = WeightsFile.ReadBlob(output);
        Assert.That((blob.Num, blob.Channels, blob.Height, blob.Width), Is.EqualTo((1, 1, H, W)));
        var expected = new float[H * W];
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++)
            {
                double s = 0;
                for (int i = 0; i < N; i++) s += Pixel(i, y, x);
                expected[y * W + x] = (float)(s / N);
            }
        Assert.That(blob.Data.ToArray(), Is.EqualTo(expected));
    }

    [Test]
    public void MeanFileIsSubtractedPerPixelBeforeScaleAndCropped()
    {
        var db = Convert();
        var meanPath = Path.Combine(_dir, "hand.binaryproto");
        var mean = new BlobProto { Num = 1, Channels = 1, Height = H, Width = W };
        for (int k = 0; k < H * W; k++) mean.Data.Add(k);
        WeightsFile.WriteAtomic(meanPath, mean);
        var t = new TransformationParameter { MeanFile = meanPath, Scale = 0.5f };
        var (layer, tops) = SetUp(Param(db, DataParameter.Types.DB.Lmdb, 1, transform: t));
        var (data, _) = Batch(layer, tops);
        var expected = new float[H * W];
        for (int y = 0; y < H; y++) for (int x = 0; x < W; x++) expected[y * W + x] = (Pixel(0, y, x) - (y * W + x)) * 0.5f;
        Assert.That(data, Is.EqualTo(expected));

        // TEST-phase crop 2 of 3×4: the centre window (offset 0, 1) of the record and of the mean.
        t = new TransformationParameter { MeanFile = meanPath, CropSize = 2 };
        (layer, tops) = SetUp(Param(db, DataParameter.Types.DB.Lmdb, 1, transform: t, phase: Phase.Test));
        (data, _) = Batch(layer, tops);
        var cropped = new float[4];
        for (int y = 0; y < 2; y++) for (int x = 0; x < 2; x++) cropped[y * 2 + x] = Pixel(0, y, x + 1) - (y * W + x + 1);
        Assert.That(data, Is.EqualTo(cropped));

        // The IDX backend takes mean files too.
        var (images, labels) = Idx();
        (layer, tops) = SetUp(Param(images, DataParameter.Types.DB.Idx, 1, labels, new TransformationParameter { MeanFile = meanPath }));
        (data, _) = Batch(layer, tops);
        Assert.That(data, Is.EqualTo(expected.Select(v => v * 2).ToArray()));

        var wrong = Path.Combine(_dir, "wrong.binaryproto");
        WeightsFile.WriteAtomic(wrong, new BlobProto { Num = 1, Channels = 1, Height = 2, Width = 2, Data = { 1, 2, 3, 4 } });
        Assert.That(Message(Param(db, DataParameter.Types.DB.Lmdb, 1, transform: new TransformationParameter { MeanFile = wrong })),
            Does.Contain("layer \"mnist\"").And.Contain("mean_file is 1×2×2 but the records are 1×3×4"));
    }

    [Test]
    public void Errors()
    {
        var missing = Path.Combine(_dir, "nope_lmdb");
        Assert.That(Message(Param(missing, DataParameter.Types.DB.Lmdb, 1)),
            Does.Contain("layer \"mnist\"").And.Contain(missing).And.Contain("no such LMDB database"));

        var bad = Path.Combine(_dir, "bad_lmdb");
        using (var w = new LmdbWriter(bad))
        {
            w.Put("00000000"u8.ToArray(), [0xFF, 0xFF, 0xFF]);
            w.Commit();
        }
        Assert.That(Message(Param(bad, DataParameter.Types.DB.Lmdb, 1)),
            Does.Contain("layer \"mnist\"").And.Contain("record \"00000000\"").And.Contain("not a Datum"));

        var encoded = Path.Combine(_dir, "encoded_lmdb");
        using (var w = new LmdbWriter(encoded))
        {
            w.Put("img1"u8.ToArray(), new Datum { Encoded = true, Data = ByteString.CopyFrom(1, 2, 3) }.ToByteArray());
            w.Commit();
        }
        Assert.That(Message(Param(encoded, DataParameter.Types.DB.Lmdb, 1)),
            Does.Contain("record \"img1\"").And.Contain("encoded image in a format this build cannot read"));

        var db = Convert();
        var p = Param(db, DataParameter.Types.DB.Lmdb, 1);
        p.DataParam.Shuffle = true;
        Assert.That(Message(p), Does.Contain("shuffle needs backend IDX"));
        var (idxLayer, _) = SetUp(Param(Idx().images, DataParameter.Types.DB.Idx, 1, Idx().labels));
        var (lmdbLayer, _) = SetUp(Param(db, DataParameter.Types.DB.Lmdb, 1));
        Assert.That(Assert.Throws<EngineException>(() => lmdbLayer.LoadState(idxLayer.SaveState()))!.Message,
            Does.Contain("not an LMDB Data layer's state"));
    }
}
