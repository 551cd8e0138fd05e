using Engine.Core;
using Engine.IO;
using Engine.Layers;
using Engine.Proto;
using Engine.Tests.Support;
using NUnit.Framework;

namespace Engine.Tests.Layers.Data;

/// <summary>
/// HDF5Data and HDF5Output on real HDF5 files: fixtures written by h5py
/// (tests/fixtures/make_hdf5_fixtures.py) with .npy copies of the values, and files written here.
/// </summary>
[TestFixture]
public class HDF5LayerTests
{
    private string _dir = "";

    [SetUp]
    public void MakeDir()
    {
        if (!Hdf5.IsAvailable)
            Assert.Ignore($"the HDF5 library {Hdf5.LibraryName} cannot be loaded (Debian: apt-get install libhdf5-103-1)");
        Log.Quiet = true;
        _dir = Path.Combine(Path.GetTempPath(), "engine-hdf5-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(_dir);
    }

    [TearDown]
    public void RemoveDir()
    {
        if (_dir.Length > 0 && Directory.Exists(_dir)) Directory.Delete(_dir, recursive: true);
    }

    private static string Fx(string name) => TestData.FixturePath(Path.Combine("hdf5", name));

    private static float[] Npy(string name) => NpyFile.Read(Fx(name)).data;

    private string List(params string[] lines)
    {
        string path = Path.Combine(_dir, "list.txt");
        File.WriteAllLines(path, lines);
        return path;
    }

    private static LayerParameter Param(string source, int batch, bool shuffle = false, string[]? tops = null, Phase phase = Phase.Train)
    {
        var p = new LayerParameter
        {
            Name = "h5",
            Type = "HDF5Data",
            Phase = phase,
            Hdf5DataParam = new HDF5DataParameter { Source = source, BatchSize = (uint)batch, Shuffle = shuffle },
        };
        p.Top.AddRange(tops ?? ["data", "label"]);
        return p;
    }

    private static (Layer layer, List<Blob> tops) SetUp(LayerParameter p, ulong seed = 1)
    {
        var layer = LayerRegistry.Create(p);
        layer.Rng = new Rng(seed);
        var t = p.Top.Select(n => new Blob(n)).ToList();
        layer.SetUp(new List<Blob>(), t);
        return (layer, t);
    }

    private static float[][] Forward(Layer layer, List<Blob> tops)
    {
        layer.Forward(new List<Blob>(), tops);
        return tops.Select(t => t.Data.ToArray()).ToArray();
    }

    // The rows of a.h5 then b.h5 as h5py wrote them: (data row of 6 values, label).
    private static List<(float[] data, float label)> Rows()
    {
        var rows = new List<(float[], float)>();
        foreach (var f in new[] { "a", "b" })
        {
            var d = Npy($"{f}_data.npy");
            var l = Npy($"{f}_label.npy");
            for (int r = 0; r < l.Length; r++) rows.Add((d[(6 * r)..(6 * r + 6)], l[r]));
        }
        return rows;
    }

    [Test]
    public void ReadsFloatDoubleAndIntegerDatasetsAcrossFilesAndWraps()
    {
        var (layer, tops) = SetUp(Param(List(Fx("a.h5"), "", Fx("b.h5")), 3));
        Assert.That(tops[0].Shape, Is.EqualTo(new[] { 3, 2, 3 }));
        Assert.That(tops[1].Shape, Is.EqualTo(new[] { 3 }));
        var rows = Rows();   // 4 rows from a.h5 (float32 data, float64 labels), 3 from b.h5 (float64 data, int32 labels)
        Assert.That(rows.Select(r => r.label), Is.EqualTo(new float[] { 0, 1, 2, 3, 10, 11, 12 }));
        int next = 0;
        for (int batch = 0; batch < 5; batch++)   // 15 rows: two passes over the 7 and one more
        {
            var (d, l) = (Forward(layer, tops)[0], tops[1].Data.ToArray());
            for (int i = 0; i < 3; i++, next++)
            {
                var (rd, rl) = rows[next % rows.Count];
                Assert.That(d[(6 * i)..(6 * i + 6)], Is.EqualTo(rd), $"batch {batch} row {i}");
                Assert.That(l[i], Is.EqualTo(rl));
            }
        }
    }

    [Test]
    public void ShuffleVisitsEveryRowOncePerPassAndKeepsRowsTogether()
    {
        var (layer, tops) = SetUp(Param(List(Fx("a.h5"), Fx("b.h5")), 7, shuffle: true), seed: 3);
        var rows = Rows();
        var seenOrders = new HashSet<string>();
        for (int pass = 0; pass < 4; pass++)
        {
            var d = Forward(layer, tops)[0];
            var l = tops[1].Data.ToArray();
            Assert.That(l, Is.EquivalentTo(rows.Select(r => r.label)), $"pass {pass}");
            for (int i = 0; i < 7; i++)
                Assert.That(d[(6 * i)..(6 * i + 6)], Is.EqualTo(rows.Single(r => r.label == l[i]).data));
            // rows of one file stay together (a file is read whole before the next)
            bool aFirst = l[0] < 10;
            Assert.That(l.Take(aFirst ? 4 : 3).All(v => aFirst ? v < 10 : v >= 10), Is.True, string.Join(",", l));
            seenOrders.Add(string.Join(",", l));
        }
        Assert.That(seenOrders.Count, Is.GreaterThan(1), "shuffle never changed the order");
    }

    [Test]
    public void StateRestoreContinuesWithTheSameBatches()
    {
        string list = List(Fx("a.h5"), Fx("b.h5"));
        var (a, at) = SetUp(Param(list, 2, shuffle: true), seed: 9);
        Forward(a, at);
        Forward(a, at);
        Forward(a, at);
        var state = a.SaveState();
        var expected = Enumerable.Range(0, 6).Select(_ => Forward(a, at)).ToList();
        var (b, bt) = SetUp(Param(list, 2, shuffle: true), seed: 77);
        b.LoadState(state);
        for (int i = 0; i < 6; i++)
        {
            var got = Forward(b, bt);
            Assert.That(got[0], Is.EqualTo(expected[i][0]), $"batch {i}");
            Assert.That(got[1], Is.EqualTo(expected[i][1]), $"batch {i}");
        }
        var (c, _) = SetUp(Param(List(Fx("a.h5")), 2));
        Assert.That(() => c.LoadState(state), Throws.InstanceOf<EngineException>().With.Message.Contains("list of 2 files"));
        Assert.That(() => c.LoadState([1, 2, 3]), Throws.InstanceOf<EngineException>().With.Message.Contains("not an HDF5Data layer's state"));
    }

    [Test]
    public void OneTopReadsOnlyItsDataset()
    {
        var (layer, tops) = SetUp(Param(List(Fx("nolabel.h5")), 2, tops: ["data"]));
        Assert.That(tops[0].Shape, Is.EqualTo(new[] { 2, 2, 3 }));
        Forward(layer, tops);
    }

    [Test]
    public void UserMistakesNameTheFileAndLine()
    {
        string Message(LayerParameter p) => Assert.Throws<EngineException>(() => SetUp(p))!.Message;

        string missingList = Path.Combine(_dir, "nope.txt");
        Assert.That(Message(Param(missingList, 1)), Does.Contain("layer \"h5\" (HDF5Data)").And.Contain("nope.txt").And.Contain("does not exist"));

        // every file in the list is checked at set-up, not only the first
        Assert.That(Message(Param(List(Fx("a.h5"), "", Path.Combine(_dir, "missing.h5")), 4)), Does.Contain("line 3").And.Contain("missing.h5").And.Contain("does not exist"));

        Assert.That(Message(Param(List(Path.Combine(_dir, "gone.h5")), 1)), Does.Contain("line 1").And.Contain("gone.h5"));
        Assert.That(Message(Param(List(Fx("nolabel.h5")), 1)), Does.Contain("nolabel.h5").And.Contain("no dataset \"label\""));
        Assert.That(Message(Param(List(Fx("rows.h5")), 1)), Does.Contain("rows.h5").And.Contain("\"label\" has 3 rows but \"data\" has 4"));
        Assert.That(Message(Param(List("", " "), 1)), Does.Contain("names no HDF5 files"));

        string notH5 = Path.Combine(_dir, "text.h5");
        File.WriteAllText(notH5, "not hdf5");
        Assert.That(Message(Param(List(notH5), 1)), Does.Contain("text.h5").And.Contain("not an HDF5 file"));
    }

    [Test]
    public void OutputWritesDataAndLabelThatReadBackIdentically()
    {
        string file = Path.Combine(_dir, "out.h5");
        var p = new LayerParameter { Name = "out", Type = "HDF5Output", Hdf5OutputParam = new HDF5OutputParameter { FileName = file } };
        p.Bottom.AddRange(["feat", "lab"]);
        var layer = LayerRegistry.Create(p);
        var data = TestData.Random("feat", [2, 3, 2], seed: 5);
        var label = TestData.FromValues("lab", [2], 4, 7);
        var bottoms = new List<Blob> { data, label };
        layer.SetUp(bottoms, new List<Blob>());
        layer.Forward(bottoms, new List<Blob>());
        using (var f = Hdf5File.OpenRead(file))
        {
            float[] buf = [];
            Assert.That(f.Read("data", ref buf), Is.EqualTo(new[] { 2, 3, 2 }));
            Assert.That(buf, Is.EqualTo(data.Data.ToArray()));
            Assert.That(f.Read("label", ref buf), Is.EqualTo(new[] { 2 }));
            Assert.That(buf[..2], Is.EqualTo(new float[] { 4, 7 }));
        }

        // A second batch is appended; the file is replaced whole, with no temporary left behind.
        var first = data.Data.ToArray();
        var data2 = TestData.Random("feat", [2, 3, 2], seed: 6);
        data2.Data.CopyTo(data.Data);
        label.Data[0] = 8; label.Data[1] = 9;
        layer.Forward(bottoms, new List<Blob>());
        Assert.That(Directory.GetFiles(_dir), Is.EqualTo(new[] { file }));

        // HDF5Data reads the file back: rows in order, the same values.
        var (reader, tops) = SetUp(Param(List(file), 4, tops: ["data", "label"]));
        var got = Forward(reader, tops);
        Assert.That(tops[0].Shape, Is.EqualTo(new[] { 4, 3, 2 }));
        Assert.That(got[0], Is.EqualTo(first.Concat(data2.Data.ToArray()).ToArray()));
        Assert.That(got[1], Is.EqualTo(new float[] { 4, 7, 8, 9 }));
    }

    [Test]
    public void OutputRefusesMismatchedBottomsAndMissingFolders()
    {
        var p = new LayerParameter { Name = "out", Type = "HDF5Output", Hdf5OutputParam = new HDF5OutputParameter { FileName = Path.Combine(_dir, "o.h5") } };
        p.Bottom.AddRange(["feat", "lab"]);
        var bottoms = new List<Blob> { new("feat", [3, 2]), new("lab", [2]) };
        var e = Assert.Throws<EngineException>(() => LayerRegistry.Create(p).SetUp(bottoms, new List<Blob>()))!;
        Assert.That(e.Message, Does.Contain("layer \"out\" (HDF5Output)").And.Contain("same count along axis 0"));

        p.Hdf5OutputParam.FileName = Path.Combine(_dir, "no", "such", "o.h5");
        bottoms[1] = new Blob("lab", [3]);
        e = Assert.Throws<EngineException>(() => LayerRegistry.Create(p).SetUp(bottoms, new List<Blob>()))!;
        Assert.That(e.Message, Does.Contain("does not exist"));
    }
}
