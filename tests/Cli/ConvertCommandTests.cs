using Engine.IO;
using Engine.Proto;
using Engine.Tests.Support;
using NUnit.Framework;

namespace Engine.Tests.Cli;

/// <summary>`engine convert` and `engine compute-mean`: their command lines and one-line errors (LMDB cases in LmdbTests).</summary>
[TestFixture]
[NonParallelizable]
public class ConvertCommandLmdbTests
{
    private string _dir = "";

    [SetUp]
    public void MakeDir()
    {
        if (!Lmdb.IsAvailable) Assert.Ignore("liblmdb is not installed (Debian: apt-get install liblmdb0); CI installs it");
        _dir = Path.Combine(Path.GetTempPath(), "engine-convert-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(_dir);
    }

    [TearDown]
    public void RemoveDir()
    {
        if (_dir.Length > 0 && Directory.Exists(_dir)) Directory.Delete(_dir, recursive: true);
    }

    [Test]
    public void ConvertsAndRefusesToOverwrite()
    {
        var (images, labels) = IdxFiles.WriteLearnable(Path.Combine(_dir, "idx"), 1500, 4, 4, 3);
        var db = Path.Combine(_dir, "out_lmdb");
        var (code, stdout, stderr) = EngineRunner.Run("convert", "-idx", images, labels, db);
        Assert.That(code, Is.EqualTo(0), stderr);
        Assert.That(stdout, Does.Contain("Processed 1000 files."));
        using (var r = new LmdbReader(db)) Assert.That(r.Count, Is.EqualTo(1500));
        (code, _, stderr) = EngineRunner.Run("convert", "--idx", images, labels, db);
        Assert.That((code, stderr.Trim()), Is.EqualTo((1, $"error: \"{db}\" already exists; give a new path for the database")));
    }

    [Test]
    public void CommandLineMistakes()
    {
        var (images, labels) = IdxFiles.WriteLearnable(Path.Combine(_dir, "idx"), 3, 4, 4, 3);
        string Err(params string[] a) { var (code, _, e) = EngineRunner.Run(a); Assert.That(code, Is.EqualTo(1)); return e.Trim(); }
        Assert.That(Err("convert", images, labels, "x"), Does.Contain("--idx IMAGES LABELS OUTPUT_DB"));
        Assert.That(Err("convert", "--idx", images, labels), Does.Contain("got 2 argument(s)"));
        Assert.That(Err("convert", "--idx", images, "--backend", "leveldb", labels, "x"), Does.Contain("--backend leveldb is not supported"));
        Assert.That(Err("convert", "--idx", labels, images, Path.Combine(_dir, "o")), Does.StartWith("error: engine convert: images"));
        Assert.That(Err("compute-mean", Path.Combine(_dir, "none"), "m.binaryproto"), Does.Contain("no such LMDB database"));
        Assert.That(Err("compute-mean", "a"), Does.Contain("expects DB OUTPUT.binaryproto"));
        var (help, stdout, _) = EngineRunner.Run("--help");
        Assert.That((help, stdout), Is.EqualTo((0, stdout)));
        Assert.That(stdout, Does.Contain("convert").And.Contain("compute-mean"));
    }
}

/// <summary>
/// `engine convert --cifar` and `--list`: files written here with known bytes, converted, then
/// read back from the LMDB (the records) and through the Data layer (the values it serves).
/// </summary>
[TestFixture]
[NonParallelizable]
public class ConvertCifarAndListTests
{
    private string _dir = "";

    [SetUp]
    public void MakeDir()
    {
        if (!Lmdb.IsAvailable) Assert.Ignore("liblmdb is not installed (Debian: apt-get install liblmdb0); CI installs it");
        Engine.Core.Log.Quiet = true;
        _dir = Path.Combine(Path.GetTempPath(), "engine-convert2-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(_dir);
    }

    [TearDown]
    public void RemoveDir()
    {
        if (_dir.Length > 0 && Directory.Exists(_dir)) Directory.Delete(_dir, recursive: true);
    }

    private static List<(string key, Datum datum)> ReadAll(string db)
    {
        using var r = new LmdbReader(db);
        var all = new List<(string, Datum)>();
        for (long i = 0; i < r.Count; i++)
        {
            var (k, v) = r.Next();
            all.Add((System.Text.Encoding.UTF8.GetString(k), Datum.Parser.ParseFrom(v)));
        }
        return all;
    }

    private static (Engine.Core.Layer layer, List<Engine.Core.Blob> tops) DataLayer(string source, DataParameter.Types.DB backend, int batch,
        TransformationParameter? transform = null, ulong seed = 1, string type = "Data")
    {
        var p = new LayerParameter
        {
            Name = "data",
            Type = type,
            Phase = Phase.Train,
            DataParam = new DataParameter { Source = source, Backend = backend, BatchSize = (uint)batch },
        };
        if (transform != null) p.TransformParam = transform;
        var layer = Engine.Core.LayerRegistry.Create(p);
        layer.Rng = new Engine.Core.Rng(seed);
        var tops = new List<Engine.Core.Blob> { new("data"), new("label") };
        layer.SetUp([], tops);
        return (layer, tops);
    }

    private static (float[] data, float[] labels) Batch(Engine.Core.Layer layer, List<Engine.Core.Blob> tops)
    {
        layer.Forward([], tops);
        return (tops[0].Data.ToArray(), tops[1].Data.ToArray());
    }

    private static string Error(params string[] args)
    {
        var (code, _, stderr) = EngineRunner.Run(args);
        Assert.That(code, Is.EqualTo(1), stderr);
        Assert.That(stderr.Trim(), Does.Not.Contain('\n'), "one line");
        return stderr.Trim();
    }

    private void AssertNothingLeft(string db)
    {
        Assert.That(Directory.Exists(db), Is.False, "no database after a failed conversion");
        Assert.That(Directory.GetDirectories(Path.GetDirectoryName(db)!, "*.partial-*"), Is.Empty, "no temporary database left");
    }

    // ---- CIFAR-10 ----

    [Test]
    public void CifarBatchesConcatenateIntoCaffesRecordsAndTheBackendServesTheSameValues()
    {
        var a = CifarFiles.Write(Path.Combine(_dir, "data_batch_1.bin"), 0, 3);
        var b = CifarFiles.Write(Path.Combine(_dir, "data_batch_2.bin"), 3, 2);
        var db = Path.Combine(_dir, "cifar10_train_lmdb");
        var (code, _, stderr) = EngineRunner.Run("convert", "--cifar", a, b, db);
        Assert.That(code, Is.EqualTo(0), stderr);

        var records = ReadAll(db);
        Assert.That(records.Select(r => r.key), Is.EqualTo(new[] { "00000", "00001", "00002", "00003", "00004" }));
        for (int i = 0; i < 5; i++)
        {
            var d = records[i].datum;
            Assert.That((d.Channels, d.Height, d.Width, d.Label, d.Encoded), Is.EqualTo((3, 32, 32, (int)CifarFiles.Label(i), false)));
            Assert.That(d.Data.ToByteArray(), Is.EqualTo(CifarFiles.Image(i)), $"record {i}");
        }

        // The LMDB and backend CIFAR (a list of the same two files) serve the same batches, crop and mirror included.
        var list = Path.Combine(_dir, "train.txt");
        File.WriteAllText(list, "data_batch_1.bin\ndata_batch_2.bin\n");
        var transform = new TransformationParameter { CropSize = 28, Mirror = true, MeanValue = { 120, 110, 100 }, Scale = 0.25f };
        var (lmdb, lt) = DataLayer(db, DataParameter.Types.DB.Lmdb, 4, transform, seed: 3);
        var (cifar, ct) = DataLayer(list, DataParameter.Types.DB.Cifar, 4, transform, seed: 3);
        for (int k = 0; k < 3; k++)
        {
            var (ld, ll) = Batch(lmdb, lt);
            var (cd, cl) = Batch(cifar, ct);
            Assert.That(cd, Is.EqualTo(ld), $"batch {k}");
            Assert.That(cl, Is.EqualTo(ll), $"batch {k}");
        }
    }

    [Test]
    public void CifarMistakesAreOneLineAndLeaveNoDatabase()
    {
        var good = CifarFiles.Write(Path.Combine(_dir, "good.bin"), 0, 2);
        var cut = CifarFiles.Write(Path.Combine(_dir, "cut.bin"), 0, 3);
        using (var f = new FileStream(cut, FileMode.Open)) f.SetLength(2 * 3073 + 1000);
        var db = Path.Combine(_dir, "out_lmdb");
        Assert.That(Error("convert", "--cifar", good, cut, db),
            Is.EqualTo($"error: engine convert: batch file \"{cut}\": record 2 is truncated: 1000 of its 3073 bytes (a CIFAR-10 batch holds 1 label byte + 3072 pixel bytes per record)"));
        AssertNothingLeft(db);

        var label = CifarFiles.Write(Path.Combine(_dir, "label.bin"), 0, 2);
        using (var f = new FileStream(label, FileMode.Open)) f.WriteByte(12);
        Assert.That(Error("convert", "-cifar", good, label, db), Does.Contain(label).And.Contain("record 0 has label 12"));
        AssertNothingLeft(db);
        Assert.That(Error("convert", "--cifar", db), Does.Contain("expects FILE... OUTPUT_DB"));
        Assert.That(Error("convert", "--cifar", Path.Combine(_dir, "none.bin"), db), Does.Contain("none.bin").And.Contain("no such file"));
        Assert.That(Error("convert", "--cifar", "--gray", good, db), Does.Contain("--gray is for --list"));
        Assert.That(Error("convert", "--cifar", "--idx", good, db), Does.Contain("one input kind"));
    }

    // ---- image lists ----

    // Four 3×2 images (width 3, height 2): a colour PNG, a colour PPM, a gray PGM (in a sub-folder), a gray PNG.
    private static byte[] Rgb(int k) => Enumerable.Range(0, 18).Select(j => (byte)(40 * k + 7 * j + 3)).ToArray();
    private static byte[] Gray(int k) => Enumerable.Range(0, 6).Select(j => (byte)(200 - 30 * k - 9 * j)).ToArray();

    private string WriteList()
    {
        File.WriteAllBytes(Path.Combine(_dir, "a.png"), ImageFiles.Png(3, 2, 3, Rgb(0)));
        File.WriteAllBytes(Path.Combine(_dir, "b.ppm"), ImageFiles.Pnm(3, 2, 3, Rgb(1)));
        Directory.CreateDirectory(Path.Combine(_dir, "sub"));
        File.WriteAllBytes(Path.Combine(_dir, "sub", "c.pgm"), ImageFiles.Pnm(3, 2, 1, Gray(2)));
        File.WriteAllBytes(Path.Combine(_dir, "d.png"), ImageFiles.Png(3, 2, 1, Gray(3)));
        var list = Path.Combine(_dir, "list.txt");
        File.WriteAllText(list, "a.png 0\nb.ppm 1\n\nsub/c.pgm 2\nd.png 3\n");
        return list;
    }

    // What each image should become, by hand: planar B, G, R (gray repeated), or one gray plane
    // with OpenCV's weights (4899 R + 9617 G + 1868 B + 8192) >> 14.
    private static float[] Expected(int k, bool gray)
    {
        var o = new List<float>();
        if (k >= 2)
        {
            var g = Gray(k).Select(v => (float)v);
            return gray ? g.ToArray() : [.. g, .. g, .. g];
        }
        var rgb = Rgb(k);
        if (gray) return Enumerable.Range(0, 6).Select(i => (float)((4899 * rgb[3 * i] + 9617 * rgb[3 * i + 1] + 1868 * rgb[3 * i + 2] + 8192) >> 14)).ToArray();
        foreach (int c in new[] { 2, 1, 0 }) o.AddRange(Enumerable.Range(0, 6).Select(i => (float)rgb[3 * i + c]));
        return o.ToArray();
    }

    private string Convert(params string[] flags)
    {
        var db = Path.Combine(_dir, "db_" + Guid.NewGuid().ToString("N")[..8]);
        var (code, _, stderr) = EngineRunner.Run([.. flags, db]);
        Assert.That(code, Is.EqualTo(0), stderr);
        return db;
    }

    [TestCase(false)]
    [TestCase(true)]
    public void RawListRecordsAndTheDataLayerValuesAreTheDecodedImages(bool gray)
    {
        var list = WriteList();
        var db = gray ? Convert("convert", "--list", list, "--root", _dir, "--gray") : Convert("convert", "--list", list, "--root", _dir);
        var records = ReadAll(db);
        Assert.That(records.Select(r => r.key), Is.EqualTo(new[] { "00000000_a.png", "00000001_b.ppm", "00000002_sub/c.pgm", "00000003_d.png" }));
        Assert.That(records.Select(r => (r.datum.Channels, r.datum.Height, r.datum.Width, r.datum.Encoded)), Is.All.EqualTo((gray ? 1 : 3, 2, 3, false)));
        Assert.That(records.Select(r => r.datum.Label), Is.EqualTo(new[] { 0, 1, 2, 3 }));
        var (layer, tops) = DataLayer(db, DataParameter.Types.DB.Lmdb, 4);
        var (data, labels) = Batch(layer, tops);
        Assert.That(tops[0].Shape, Is.EqualTo(new[] { 4, gray ? 1 : 3, 2, 3 }));
        Assert.That(data, Is.EqualTo(Enumerable.Range(0, 4).SelectMany(k => Expected(k, gray)).ToArray()));
        Assert.That(labels, Is.EqualTo(new float[] { 0, 1, 2, 3 }));
    }

    [Test]
    public void ResizeIsBilinearAsTheImageDataLayerResizes()
    {
        // By hand: a 2×2 gray image whose rows are (0, 100), widened to 4 columns with half-pixel
        // centres (source x = −0.25, 0.25, 0.75, 1.25) → (0, 25, 75, 100) on both rows.
        File.WriteAllBytes(Path.Combine(_dir, "e.pgm"), ImageFiles.Pnm(2, 2, 1, [0, 100, 0, 100]));
        var tiny = Path.Combine(_dir, "tiny.txt");
        File.WriteAllText(tiny, "e.pgm 5\n");
        var db = Convert("convert", "-list", tiny, "-root", _dir + "/", "-gray", "-resize_height", "2", "-resize_width", "4");
        var (layer, tops) = DataLayer(db, DataParameter.Types.DB.Lmdb, 1);
        Assert.That(Batch(layer, tops).data, Is.EqualTo(new float[] { 0, 25, 75, 100, 0, 25, 75, 100 }));

        // The four-image list resized to 5×4 serves what the ImageData layer serves for the same list.
        var list = WriteList();
        db = Convert("convert", "--list", list, "--root", _dir, "--resize-height", "5", "--resize-width", "4", "--check-size");
        var (data, dt) = DataLayer(db, DataParameter.Types.DB.Lmdb, 4);
        var ip = new LayerParameter
        {
            Name = "img",
            Type = "ImageData",
            Phase = Phase.Train,
            ImageDataParam = new ImageDataParameter { Source = list, RootFolder = _dir + "/", BatchSize = 4, NewHeight = 5, NewWidth = 4 },
        };
        var image = Engine.Core.LayerRegistry.Create(ip);
        image.Rng = new Engine.Core.Rng(1);
        var it = new List<Engine.Core.Blob> { new("data"), new("label") };
        image.SetUp([], it);
        var fromDb = Batch(data, dt);
        var fromImages = Batch(image, it);
        Assert.That(dt[0].Shape, Is.EqualTo(new[] { 4, 3, 5, 4 }));
        Assert.That(fromDb.data, Is.EqualTo(fromImages.data));
        Assert.That(fromDb.labels, Is.EqualTo(fromImages.labels));
    }

    [Test]
    public void EncodedRecordsDecodeToTheSameValuesAsRawOnes()
    {
        var list = WriteList();
        var db = Convert("convert", "--list", list, "--root", _dir, "--encoded");
        var records = ReadAll(db);
        Assert.That(records.Select(r => r.datum.Encoded), Is.All.True);
        // Colour files are kept byte for byte; the gray ones become colour (re-encoded) for a colour database.
        Assert.That(records[0].datum.Data.ToByteArray(), Is.EqualTo(File.ReadAllBytes(Path.Combine(_dir, "a.png"))));
        Assert.That(records[1].datum.Data.ToByteArray(), Is.EqualTo(File.ReadAllBytes(Path.Combine(_dir, "b.ppm"))));
        Assert.That(records[2].datum.Data.ToByteArray(), Is.Not.EqualTo(File.ReadAllBytes(Path.Combine(_dir, "sub", "c.pgm"))));
        var (layer, tops) = DataLayer(db, DataParameter.Types.DB.Lmdb, 4);
        Assert.That(Batch(layer, tops).data, Is.EqualTo(Enumerable.Range(0, 4).SelectMany(k => Expected(k, false)).ToArray()));

        // force_gray decodes the same records to one gray channel.
        (layer, tops) = DataLayer(db, DataParameter.Types.DB.Lmdb, 4, new TransformationParameter { ForceGray = true });
        Assert.That(tops[0].Shape, Is.EqualTo(new[] { 4, 1, 2, 3 }));
        Assert.That(Batch(layer, tops).data, Is.EqualTo(Enumerable.Range(0, 4).SelectMany(k => Expected(k, true)).ToArray()));

        // --gray --encoded: gray records (decoded natively to one channel); force_color repeats it in B, G, R.
        var grayDb = Convert("convert", "--list", list, "--root", _dir, "--encoded", "--gray");
        Assert.That(ReadAll(grayDb)[3].datum.Data.ToByteArray(), Is.EqualTo(File.ReadAllBytes(Path.Combine(_dir, "d.png"))));
        (layer, tops) = DataLayer(grayDb, DataParameter.Types.DB.Lmdb, 4);
        Assert.That(Batch(layer, tops).data, Is.EqualTo(Enumerable.Range(0, 4).SelectMany(k => Expected(k, true)).ToArray()));
        (layer, tops) = DataLayer(grayDb, DataParameter.Types.DB.Lmdb, 4, new TransformationParameter { ForceColor = true });
        Assert.That(Batch(layer, tops).data,
            Is.EqualTo(Enumerable.Range(0, 4).SelectMany(k => { var g = Expected(k, true); return g.Concat(g).Concat(g); }).ToArray()));

        // Resized and encoded (re-encoded as PNG, then decoded) equals resized raw.
        var rawResized = Convert("convert", "--list", list, "--root", _dir, "--resize-height", "3", "--resize-width", "5");
        var encResized = Convert("convert", "--list", list, "--root", _dir, "--resize-height", "3", "--resize-width", "5", "--encoded", "--encode-type", "png");
        var (r1, t1) = DataLayer(rawResized, DataParameter.Types.DB.Lmdb, 4);
        var (r2, t2) = DataLayer(encResized, DataParameter.Types.DB.Lmdb, 4);
        Assert.That(Batch(r2, t2).data, Is.EqualTo(Batch(r1, t1).data));
    }

    [Test]
    public void ComputeMeanDecodesEncodedRecords()
    {
        var db = Convert("convert", "--list", WriteList(), "--root", _dir, "--encoded", "--gray");
        var output = Path.Combine(_dir, "mean.binaryproto");
        var (code, _, stderr) = EngineRunner.Run("compute-mean", db, output);
        Assert.That(code, Is.EqualTo(0), stderr);
        var blob = WeightsFile.ReadBlob(output);
        Assert.That((blob.Num, blob.Channels, blob.Height, blob.Width), Is.EqualTo((1, 1, 2, 3)));
        var expected = Enumerable.Range(0, 6).Select(i => (float)(Enumerable.Range(0, 4).Sum(k => (double)Expected(k, true)[i]) / 4)).ToArray();
        Assert.That(blob.Data.ToArray(), Is.EqualTo(expected));
    }

    [Test]
    public void ShuffleIsReproducibleFromTheSeed()
    {
        var list = WriteList();
        string[] Keys(string db) => ReadAll(db).Select(r => r.key).ToArray();
        var a = Keys(Convert("convert", "--list", list, "--root", _dir, "--shuffle", "--seed", "3"));
        var b = Keys(Convert("convert", "-list", list, "-root", _dir, "-shuffle", "-seed=3"));
        Assert.That(b, Is.EqualTo(a));
        Assert.That(a.Select(k => k[..9]), Is.EqualTo(new[] { "00000000_", "00000001_", "00000002_", "00000003_" }));
        Assert.That(a.Select(k => k[9..]).OrderBy(p => p), Is.EqualTo(new[] { "a.png", "b.ppm", "d.png", "sub/c.pgm" }));
        Assert.That(a.Select(k => k[9..]), Is.Not.EqualTo(new[] { "a.png", "b.ppm", "sub/c.pgm", "d.png" }), "seed 3 reorders these four");
    }

    [Test]
    public void ListMistakesNameTheLineAndTheFile()
    {
        var list = WriteList();
        var db = Path.Combine(_dir, "out_lmdb");
        File.WriteAllBytes(Path.Combine(_dir, "photo.jpg"), [0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10]);
        var bad = Path.Combine(_dir, "bad.txt");
        File.WriteAllText(bad, "a.png 0\nphoto.jpg 1\n");
        var jpg = Path.Combine(_dir, "photo.jpg");
        Assert.That(Error("convert", "--list", bad, "--root", _dir, db),
            Is.EqualTo($"error: engine convert: list \"{bad}\" line 2: image \"{jpg}\" has an unsupported format: JPEG files are not supported yet; convert to PNG, PPM or PGM"));
        AssertNothingLeft(db);

        File.WriteAllText(bad, "a.png 0\n\nmissing.png 1\n");
        Assert.That(Error("convert", "--list", bad, "--root", _dir, db), Does.Contain("line 3").And.Contain("missing.png").And.Contain("does not exist"));
        File.WriteAllBytes(Path.Combine(_dir, "junk.png"), [1, 2, 3]);
        File.WriteAllText(bad, "junk.png 0\n");
        Assert.That(Error("convert", "--list", bad, "--root", _dir, db), Does.Contain("line 1").And.Contain("junk.png").And.Contain("unknown image format"));
        File.WriteAllText(bad, "a.png zero\n");
        Assert.That(Error("convert", "--list", bad, "--root", _dir, db), Does.Contain("line 1: label \"zero\" is not an integer"));

        File.WriteAllBytes(Path.Combine(_dir, "big.png"), ImageFiles.Png(4, 2, 3, new byte[24]));
        File.WriteAllText(bad, "a.png 0\nbig.png 1\n");
        Assert.That(Error("convert", "--list", bad, "--root", _dir, "--check-size", db),
            Does.Contain("line 2").And.Contain("big.png").And.Contain("is 3×2×4, but the first image").And.Contain("3×2×3"));
        AssertNothingLeft(db);
        Assert.DoesNotThrow(() => Convert("convert", "--list", bad, "--root", _dir), "without --check-size mixed sizes are written");

        Assert.That(Error("convert", "--list", list, "--resize-height", "4", db), Does.Contain("both --resize-height and --resize-width"));
        Assert.That(Error("convert", "--list", list, "--encoded", "--encode-type", "jpg", db), Does.Contain("--encode-type jpg"));
        Assert.That(Error("convert", "--list", Path.Combine(_dir, "none.txt"), db), Does.Contain("none.txt").And.Contain("does not exist"));
        Assert.That(Error("convert", "--list", list, "--root", _dir), Does.Contain("OUTPUT_DB"));
    }
}
