using Engine.Core;
using Engine.IO;
using Engine.Layers;
using Engine.Proto;
using Engine.Tests.Support;
using Google.Protobuf;
using NUnit.Framework;

namespace Engine.Tests.Layers.Data;

/// <summary>
/// Encoded Datum records in the Data layer (LMDB backend), written here: values, the force_*
/// fields, and the one-line errors that name the record. Also the PNG/PNM encoders' round trip.
/// </summary>
[TestFixture]
[NonParallelizable]
public class EncodedDatumTests
{
    private string _dir = "";

    [SetUp]
    public void MakeDir()
    {
        Log.Quiet = true;
        _dir = Path.Combine(Path.GetTempPath(), "engine-encoded-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(_dir);
    }

    [TearDown]
    public void RemoveDir() => Directory.Delete(_dir, recursive: true);

    private string Db(params (string key, byte[] image, int label)[] records)
    {
        if (!Lmdb.IsAvailable) Assert.Ignore("liblmdb is not installed (Debian: apt-get install liblmdb0); CI installs it");
        var path = Path.Combine(_dir, "db_" + Guid.NewGuid().ToString("N")[..8]);
        using var w = new LmdbWriter(path);
        foreach (var (key, image, label) in records)
            w.Put(System.Text.Encoding.ASCII.GetBytes(key), new Datum { Encoded = true, Data = ByteString.CopyFrom(image), Label = label }.ToByteArray());
        w.Commit();
        return path;
    }

    private static (Layer layer, List<Blob> tops) SetUp(string db, int batch, TransformationParameter? tp = null)
    {
        var p = new LayerParameter
        {
            Name = "data",
            Type = "Data",
            Phase = Phase.Test,
            DataParam = new DataParameter { Source = db, Backend = DataParameter.Types.DB.Lmdb, BatchSize = (uint)batch },
        };
        if (tp != null) p.TransformParam = tp;
        var layer = LayerRegistry.Create(p);
        layer.Rng = new Rng(1);
        var tops = new List<Blob> { new("data"), new("label") };
        layer.SetUp([], tops);
        return (layer, tops);
    }

    [Test]
    public void ColourPngDecodesToBgrPlanesAndGrayPgmToOnePlane()
    {
        // 2×1 RGB pixels (10, 20, 30) and (40, 50, 60) → B plane (30, 60), G (20, 50), R (10, 40).
        var db = Db(("0", ImageFiles.Png(2, 1, 3, [10, 20, 30, 40, 50, 60]), 4), ("1", ImageFiles.Pnm(2, 1, 3, [1, 2, 3, 4, 5, 6]), 5));
        var (layer, tops) = SetUp(db, 2, new TransformationParameter { MeanValue = { 1, 2, 3 } });
        layer.Forward([], tops);
        Assert.That(tops[0].Data.ToArray(), Is.EqualTo(new float[] { 29, 59, 18, 48, 7, 37, 2, 5, 0, 3, -2, 1 }));
        Assert.That(tops[1].Data.ToArray(), Is.EqualTo(new float[] { 4, 5 }));

        var gray = Db(("0", ImageFiles.Pnm(3, 1, 1, [7, 8, 9]), 0));
        (layer, tops) = SetUp(gray, 1);
        Assert.That(tops[0].Shape, Is.EqualTo(new[] { 1, 1, 1, 3 }));
        layer.Forward([], tops);
        Assert.That(tops[0].Data.ToArray(), Is.EqualTo(new float[] { 7, 8, 9 }));
    }

    private static string Message(Action a)
    {
        var m = Assert.Throws<EngineException>(() => a())!.Message;
        Assert.That(m, Does.Not.Contain('\n'));
        Assert.That(m, Does.StartWith("layer \"data\" (Data): "));
        return m;
    }

    [Test]
    public void BadRecordsNameTheRecord()
    {
        var mixed = Db(("00000000", ImageFiles.Png(3, 2, 3, new byte[18]), 0), ("00000001", ImageFiles.Png(2, 2, 3, new byte[12]), 1));
        var (layer, tops) = SetUp(mixed, 2);
        Assert.That(Message(() => layer.Forward([], tops)),
            Does.Contain(mixed).And.Contain("record \"00000001\" decodes to 3×2×2, but the first record is 3×2×3"));

        var png = ImageFiles.Png(3, 2, 3, new byte[18]);
        png[^5] ^= 0xFF; // IEND's CRC
        var corrupt = Db(("00000000", ImageFiles.Png(3, 2, 3, new byte[18]), 0), ("00000001", png, 1));
        (layer, tops) = SetUp(corrupt, 2);
        Assert.That(Message(() => layer.Forward([], tops)), Does.Contain("record \"00000001\" is an encoded image that is corrupt").And.Contain("CRC"));

        var jpeg = Db(("k", [0xFF, 0xD8, 0xFF, 0xE0], 0));
        Assert.That(Message(() => SetUp(jpeg, 1)), Does.Contain("record \"k\"").And.Contain("JPEG"));
        var empty = Db(("k", [], 0));
        Assert.That(Message(() => SetUp(empty, 1)), Does.Contain("record \"k\" is marked encoded but holds no data"));
        Assert.That(Message(() => SetUp(mixed, 1, new TransformationParameter { ForceColor = true, ForceGray = true })),
            Does.Contain("force_color and force_gray cannot both be true"));
    }

    [TestCase(1)]
    [TestCase(3)]
    public void EncodersRoundTripThroughTheDecoders(int channels)
    {
        var planar = Enumerable.Range(0, channels * 4 * 5).Select(i => (byte)(i * 13 + 1)).ToArray();
        foreach (var bytes in new[] { ImageEncoders.Png(planar, channels, 4, 5), ImageEncoders.Pnm(planar, channels, 4, 5) })
        {
            var image = ImageDecoders.Decode(bytes);
            Assert.That((image.Channels, image.Height, image.Width), Is.EqualTo((channels, 4, 5)));
            Assert.That(ImageDataLayer.ToPlanar(image, channels), Is.EqualTo(planar));
        }
    }
}
