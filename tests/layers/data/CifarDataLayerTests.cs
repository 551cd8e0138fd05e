using Engine.Core;
using Engine.Layers;
using Engine.Proto;
using Engine.Tests.Support;
using NUnit.Framework;

namespace Engine.Tests.Layers.Data;

/// <summary>
/// The Data layer with backend CIFAR, on CIFAR-10 batch files written here with known bytes
/// (<see cref="CifarFiles"/>): the values it serves are the bytes written, in R, G, B planes.
/// </summary>
[TestFixture]
public class CifarDataLayerTests
{
    private string _dir = "";

    [SetUp]
    public void MakeDir()
    {
        Log.Quiet = true;
        _dir = Path.Combine(Path.GetTempPath(), "engine-cifar-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(_dir);
    }

    [TearDown]
    public void RemoveDir() => Directory.Delete(_dir, recursive: true);

    private static LayerParameter Param(string source, int batch, Phase phase = Phase.Train,
        TransformationParameter? transform = null, Action<DataParameter>? configure = null)
    {
        var dp = new DataParameter { Source = source, Backend = DataParameter.Types.DB.Cifar, BatchSize = (uint)batch };
        configure?.Invoke(dp);
        var p = new LayerParameter { Name = "cifar", Type = "Data", DataParam = dp, Phase = phase };
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

    // Record i as the layer should serve it: (pixel − mean[c]) · scale, channel-major.
    private static float[] Expected(int i, float[] mean, float scale)
    {
        var e = new float[CifarFiles.ImageBytes];
        for (int c = 0; c < 3; c++)
            for (int y = 0; y < 32; y++)
                for (int x = 0; x < 32; x++) e[(c * 32 + y) * 32 + x] = (CifarFiles.Pixel(i, c, y, x) - mean[c]) * scale;
        return e;
    }

    [Test]
    public void ServesTheBytesWrittenWithPerChannelMeansAndWrapsAround()
    {
        var file = CifarFiles.Write(Path.Combine(_dir, "data_batch_1.bin"), 0, 5);
        float[] mean = [1, 2, 3];
        var (layer, tops) = SetUp(Param(file, 3, transform: new TransformationParameter { Scale = 0.5f, MeanValue = { mean } }));
        Assert.That(tops[0].Shape, Is.EqualTo(new[] { 3, 3, 32, 32 }));
        Assert.That(((DataLayer)layer).Records, Is.EqualTo(5));
        int[][] batches = [[0, 1, 2], [3, 4, 0]];
        foreach (var records in batches)
        {
            var (data, labels) = Batch(layer, tops);
            Assert.That(data, Is.EqualTo(records.SelectMany(i => Expected(i, mean, 0.5f)).ToArray()));
            Assert.That(labels, Is.EqualTo(records.Select(i => (float)CifarFiles.Label(i)).ToArray()));
        }
    }

    [Test]
    public void AListFileConcatenatesBatchesRelativeToItsFolder()
    {
        CifarFiles.Write(Path.Combine(_dir, "a.bin"), 0, 3);
        CifarFiles.Write(Path.Combine(_dir, "sub", "b.bin"), 3, 2);
        var list = Path.Combine(_dir, "train.txt");
        File.WriteAllText(list, "a.bin\n\n# the second batch\nsub/b.bin\n");
        var (layer, tops) = SetUp(Param(list, 5));
        var (data, labels) = Batch(layer, tops);
        Assert.That(data, Is.EqualTo(Enumerable.Range(0, 5).SelectMany(i => Expected(i, [0, 0, 0], 1)).ToArray()));
        Assert.That(labels, Is.EqualTo(Enumerable.Range(0, 5).Select(i => (float)CifarFiles.Label(i)).ToArray()));
    }

    // The record a served image came from: its first byte is 37·i mod 256 (distinct for i < 7).
    private static int[] Records(float[] data, int batch) =>
        Enumerable.Range(0, batch).Select(b => (int)data[b * CifarFiles.ImageBytes] / 37).ToArray();

    [Test]
    public void ShuffledEpochsArePermutationsAndAResumedLayerContinuesExactly()
    {
        var file = CifarFiles.Write(Path.Combine(_dir, "data_batch_1.bin"), 0, 7);
        var (a, at) = SetUp(Param(file, 2, configure: dp => dp.Shuffle = true), seed: 5);
        var seen = new List<int>();
        for (int b = 0; b < 3; b++) seen.AddRange(Records(Batch(a, at).data, 2));
        var state = a.SaveState();
        var expected = Enumerable.Range(0, 5).Select(_ => Batch(a, at)).ToList();
        seen.AddRange(Records(expected[0].data, 2));
        Assert.That(seen.Take(7).OrderBy(i => i), Is.EqualTo(Enumerable.Range(0, 7)), "the first epoch visits every record once");
        Assert.That(seen.Take(7), Is.Not.EqualTo(Enumerable.Range(0, 7)), "shuffled");

        var (b2, bt) = SetUp(Param(file, 2, configure: dp => dp.Shuffle = true), seed: 77);
        b2.LoadState(state);
        for (int k = 0; k < expected.Count; k++)
        {
            var (d, l) = Batch(b2, bt);
            Assert.That(d, Is.EqualTo(expected[k].data), $"batch {k}");
            Assert.That(l, Is.EqualTo(expected[k].labels), $"batch {k}");
        }
    }

    private string Message(LayerParameter p)
    {
        var m = Assert.Throws<EngineException>(() => SetUp(p))!.Message;
        Assert.That(m, Does.Not.Contain('\n'));
        Assert.That(m, Does.StartWith("layer \"cifar\" (Data): "));
        return m;
    }

    [Test]
    public void CorruptOrMissingFilesNameTheFileAndTheRecord()
    {
        var truncated = Path.Combine(_dir, "truncated.bin");
        CifarFiles.Write(truncated, 0, 2);
        using (var f = new FileStream(truncated, FileMode.Append)) f.Write(new byte[100]);
        Assert.That(Message(Param(truncated, 1)), Does.Contain(truncated).And.Contain("record 2 is truncated: 100 of its 3073 bytes"));

        var badLabel = Path.Combine(_dir, "label.bin");
        CifarFiles.Write(badLabel, 0, 3);
        using (var f = new FileStream(badLabel, FileMode.Open)) { f.Position = 3073; f.WriteByte(10); }
        Assert.That(Message(Param(badLabel, 1)), Does.Contain(badLabel).And.Contain("record 1 has label 10").And.Contain("0 to 9"));

        var list = Path.Combine(_dir, "list.txt");
        File.WriteAllText(list, "truncated.bin\nmissing.bin\n");
        Assert.That(Message(Param(list, 1)), Does.Contain("line 2").And.Contain("missing.bin").And.Contain("does not exist"));

        var binary = Path.Combine(_dir, "data_batch_1");
        File.Copy(badLabel, binary);
        Assert.That(Message(Param(binary, 1)), Does.Contain("is not a text file").And.Contain(".bin"));

        Assert.That(Message(Param(Path.Combine(_dir, "none.bin"), 1)), Does.Contain("none.bin").And.Contain("no such file"));
        var empty = Path.Combine(_dir, "empty.bin");
        File.WriteAllBytes(empty, []);
        Assert.That(Message(Param(empty, 1)), Does.Contain("empty"));
        Assert.That(Message(Param(truncated, 1, configure: dp => dp.LabelSource = "x")), Does.Contain("label_source is for backend IDX"));
    }
}
