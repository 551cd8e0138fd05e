using System.Buffers.Binary;
using Google.Protobuf;
using System.Runtime.CompilerServices;
using System.Text;
using Engine.Core;
using Engine.Graph;
using Engine.Layers;
using Engine.Proto;
using Engine.Tests.Support;
using NUnit.Framework;

namespace Engine.Tests.Core;

/// <summary>
/// A reader whose batches are known by hand: record r of a dataset of <see cref="Records"/> holds
/// the value r in each of its <see cref="Width"/> data values plus a draw from the layer's
/// generator (a stand-in for crop/mirror), and label r. With a gate, each batch waits for the
/// test to let it through; with <see cref="FailAtRecord"/>, reading that record fails.
/// </summary>
internal sealed class CountingDataLayer(LayerParameter param) : PrefetchingDataLayer(param)
{
    public const int Records = 7, Width = 3;
    public int Batch;
    public int FailAtRecord = -1;
    public SemaphoreSlim? Gate;
    public int LoaderThreadId;
    private int _cursor;
    private long _epoch;

    protected override void DataLayerSetUp(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        Batch = (int)Param.DataParam.BatchSize;
        _cursor = 0;
        _epoch = 0;
    }

    public override void Reshape(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        top[0].Reshape(Batch, Width);
        if (top.Count > 1) top[1].Reshape(Batch);
    }

    protected override void LoadBatch(Span<float> data, Span<float> labels)
    {
        Gate?.Wait();
        LoaderThreadId = Environment.CurrentManagedThreadId;
        for (int i = 0; i < Batch; i++)
        {
            if (_cursor == Records) { _cursor = 0; _epoch++; }
            if (_cursor == FailAtRecord) throw Error($"record {_cursor} is corrupt");
            for (int k = 0; k < Width; k++) data[i * Width + k] = _cursor + Rng.NextInt(100) / 1000f;
            if (labels.Length > 0) labels[i] = _cursor;
            _cursor++;
        }
    }

    protected override int ReaderStateSize => 12 + 32;

    protected override void WriteReaderState(Span<byte> state)
    {
        BinaryPrimitives.WriteInt32LittleEndian(state, _cursor);
        BinaryPrimitives.WriteInt64LittleEndian(state[4..], _epoch);
        Rng.SaveState(state[12..]);
    }

    protected override void ReadReaderState(ReadOnlySpan<byte> state)
    {
        if (state.Length != 44) throw Error($"state of {state.Length} bytes");
        _cursor = BinaryPrimitives.ReadInt32LittleEndian(state);
        _epoch = BinaryPrimitives.ReadInt64LittleEndian(state[4..]);
        Rng.LoadState(state[12..]);
    }

    protected override (long epoch, int cursor) ReaderPosition => (_epoch, _cursor);
}

[TestFixture]
public class PrefetchingDataLayerTests
{
    private static (CountingDataLayer layer, List<Blob> tops) Counting(uint prefetch, int batch = 3, ulong seed = 7, int tops = 2)
    {
        var p = new LayerParameter { Name = "count", Type = "Counting", DataParam = new DataParameter { BatchSize = (uint)batch, Prefetch = prefetch } };
        var layer = new CountingDataLayer(p) { Rng = new Rng(seed) };
        var t = new List<Blob> { new("data") };
        if (tops > 1) t.Add(new Blob("label"));
        layer.SetUp([], t);
        return (layer, t);
    }

    private static (float[] data, float[] labels) Next(Layer layer, List<Blob> tops)
    {
        layer.Forward([], tops);
        return (tops[0].Data.ToArray(), tops.Count > 1 ? tops[1].Data.ToArray() : []);
    }

    private static int[] Bits(float[] v) => v.Select(BitConverter.SingleToInt32Bits).ToArray();

    [TestCase(0u)]
    [TestCase(1u)]
    [TestCase(4u)]
    public void BatchesComeInReadingOrder(uint prefetch)
    {
        var (layer, tops) = Counting(prefetch);
        using var _ = layer;
        var labels = new List<float>();
        for (int b = 0; b < 5; b++)
        {
            var (data, l) = Next(layer, tops);
            labels.AddRange(l);
            for (int i = 0; i < 3; i++)
                Assert.That(data[i * 3], Is.InRange(l[i], l[i] + 0.1f), "data of the record with the label");
        }
        // 7 records, batches of 3: 0 1 2 | 3 4 5 | 6 0 1 | 2 3 4 | 5 6 0
        Assert.That(labels, Is.EqualTo(new float[] { 0, 1, 2, 3, 4, 5, 6, 0, 1, 2, 3, 4, 5, 6, 0 }));
        Assert.That(layer.Epoch, Is.EqualTo(2), "the net's view: the last batch began the third pass");
        Assert.That(layer.Cursor, Is.EqualTo(1));
        Assert.That(layer.BatchesServed, Is.EqualTo(5));
    }

    [Test]
    public void EveryPrefetchCountGivesTheSameBitsAsReadingInForward()
    {
        var (sync, st) = Counting(0);
        var expected = Enumerable.Range(0, 12).Select(_ => Next(sync, st)).ToList();
        foreach (uint prefetch in new uint[] { 1, 2, 5, 9 })
        {
            var (layer, tops) = Counting(prefetch);
            using var _ = layer;
            for (int b = 0; b < expected.Count; b++)
            {
                var (data, labels) = Next(layer, tops);
                Assert.That(Bits(data), Is.EqualTo(Bits(expected[b].data)), $"prefetch {prefetch}, batch {b}");
                Assert.That(labels, Is.EqualTo(expected[b].labels));
            }
        }
    }

    [Test]
    public void BatchesAreReadOnAThreadOfTheirOwn()
    {
        var (layer, tops) = Counting(2);
        using var _ = layer;
        Next(layer, tops);
        Assert.That(layer.LoaderThreadId, Is.Not.EqualTo(Environment.CurrentManagedThreadId));
        Assert.That(layer.PrefetchThread!.IsBackground, "a background thread never keeps the process alive");
        var (sync, st) = Counting(0);
        Next(sync, st);
        Assert.That(sync.LoaderThreadId, Is.EqualTo(Environment.CurrentManagedThreadId), "prefetch 0 reads in Forward");
        Assert.That(sync.PrefetchThread, Is.Null);
    }

    // The reader runs ahead; the state saved must be the one of the next batch the net consumes.
    [TestCase(4u, 2u)]
    [TestCase(3u, 0u)]
    [TestCase(0u, 5u)]
    public void SavedStateIsTheNetsPositionNotTheReaders(uint prefetch, uint resumedPrefetch)
    {
        var (a, ta) = Counting(prefetch);
        using var _ = a;
        for (int i = 0; i < 4; i++) Next(a, ta);
        WaitUntilFull(a);
        var state = a.SaveState();
        var (epoch, cursor) = (a.Epoch, a.Cursor);
        var expected = Enumerable.Range(0, 6).Select(_ => Next(a, ta)).ToList();

        var (b, tb) = Counting(resumedPrefetch, seed: 999); // another generator: it must come from the state
        using var __ = b;
        b.LoadState(state);
        Assert.That((b.Epoch, b.Cursor), Is.EqualTo((epoch, cursor)));
        for (int i = 0; i < expected.Count; i++)
        {
            var (d, l) = Next(b, tb);
            Assert.That(Bits(d), Is.EqualTo(Bits(expected[i].data)), $"batch {i}");
            Assert.That(l, Is.EqualTo(expected[i].labels));
        }
        // Loading into the running layer itself drops what it read ahead.
        a.LoadState(state);
        Assert.That(Bits(Next(a, ta).data), Is.EqualTo(Bits(expected[0].data)));
    }

    private static void WaitUntilFull(PrefetchingDataLayer layer)
    {
        // Give the thread time to fill the ring, so the reader is well ahead of the net.
        for (int i = 0; i < 200 && layer.PrefetchThread != null && layer.ReadyBatches < layer.Prefetch; i++) Thread.Sleep(5);
    }

    [TestCase(0u)]
    [TestCase(3u)]
    public void AReaderErrorIsThrownInForwardWhenItsBatchIsDue(uint prefetch)
    {
        var (layer, tops) = Counting(prefetch);
        using var _ = layer;
        layer.FailAtRecord = 5;
        Assert.That(Next(layer, tops).labels, Is.EqualTo(new float[] { 0, 1, 2 }), "the batch before is whole");
        var e = Assert.Throws<EngineException>(() => layer.Forward([], tops))!;
        Assert.That(e.Message, Is.EqualTo("layer \"count\" (Counting): record 5 is corrupt"));
        e = Assert.Throws<EngineException>(() => layer.Forward([], tops))!;
        Assert.That(e.Message, Does.Contain("record 5"), "the layer stays failed");
    }

    [Test]
    public void ForwardWaitsForTheReaderAndCountsTheWait()
    {
        var (layer, tops) = Counting(2);
        using var _ = layer;
        layer.Gate = new SemaphoreSlim(0);
        var release = Task.Run(() => { Thread.Sleep(150); layer.Gate.Release(100); });
        Next(layer, tops);
        release.Wait();
        Assert.That(layer.DataWait.TotalMilliseconds, Is.GreaterThanOrEqualTo(100), "the forward was blocked until the reader delivered");
        Assert.That(layer.DataWait.TotalMilliseconds, Is.LessThan(60_000));
    }

    [Test]
    public void ForwardDoesNotAllocateOnTheTrainingThread([Values(0u, 2u)] uint prefetch)
    {
        var (layer, tops) = Counting(prefetch);
        using var _ = layer;
        for (int i = 0; i < 20; i++) layer.Forward([], tops);
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 200; i++) layer.Forward([], tops);
        Assert.That(GC.GetAllocatedBytesForCurrentThread() - before, Is.Zero);
    }

    [Test]
    public void TopsOfAnotherSizeRestartTheRingWhereTheNetWas()
    {
        var (sync, st) = Counting(0);
        var expected = Enumerable.Range(0, 4).Select(_ => Next(sync, st).labels).ToList();
        var (layer, tops) = Counting(4);
        using var _ = layer;
        Assert.That(Next(layer, tops).labels, Is.EqualTo(expected[0]));
        WaitUntilFull(layer);
        var dataOnly = new List<Blob> { tops[0] };
        layer.Forward([], dataOnly);                      // no label top: the ring is rebuilt
        Assert.That(Next(layer, tops).labels, Is.EqualTo(expected[2]));
        Assert.That(Next(layer, tops).labels, Is.EqualTo(expected[3]));
    }

    [Test]
    public void SetUpAgainWithAnotherBatchStartsOver()
    {
        var (layer, tops) = Counting(3);
        using var _ = layer;
        Next(layer, tops);
        Next(layer, tops);
        layer.Param.DataParam.BatchSize = 4;
        layer.SetUp([], tops);
        Assert.That(tops[0].Shape, Is.EqualTo(new[] { 4, 3 }));
        Assert.That(Next(layer, tops).labels, Is.EqualTo(new float[] { 0, 1, 2, 3 }));
        Assert.That(Next(layer, tops).labels, Is.EqualTo(new float[] { 4, 5, 6, 0 }));
    }

    [Test]
    public void DisposeStopsTheThread()
    {
        var (layer, tops) = Counting(2);
        Next(layer, tops);
        var thread = layer.PrefetchThread!;
        Assert.That(thread.IsAlive);
        layer.Dispose();
        Assert.That(thread.Join(TimeSpan.FromSeconds(10)), "the thread ended");
        Assert.Throws<ObjectDisposedException>(() => layer.Forward([], tops));
    }

    [Test]
    public void ALayerNobodyDisposesStillStopsItsThreadWhenCollected()
    {
        var thread = StartAndForget();
        for (int i = 0; i < 20 && thread.IsAlive; i++)
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
            thread.Join(50);
        }
        Assert.That(thread.IsAlive, Is.False);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static Thread StartAndForget()
    {
        var (layer, tops) = Counting(2);
        Next(layer, tops);
        return layer.PrefetchThread!;
    }

    [Test]
    public void PrefetchAboveTheLimitIsAnError()
    {
        var e = Assert.Throws<EngineException>(() => Counting(PrefetchingDataLayer.MaxPrefetch + 1))!;
        Assert.That(e.Message, Does.StartWith("layer \"count\"").And.Contain("prefetch 257"));
    }

    // ------------------------------------------------------------------ the real layers

    [Test]
    public void ImageDataErrorsOnThePrefetchThreadReadAsInForward()
    {
        var dir = Path.Combine(Path.GetTempPath(), "engine-prefetch-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        try
        {
            for (int i = 0; i < 4; i++) File.WriteAllBytes(Path.Combine(dir, $"{i}.pgm"), Encoding.ASCII.GetBytes($"P5 1 1 255\n{(char)(i + 1)}"));
            File.WriteAllBytes(Path.Combine(dir, "2.pgm"), Encoding.ASCII.GetBytes("P5 1 1 255\n")); // truncated
            var list = Path.Combine(dir, "list.txt");
            File.WriteAllText(list, string.Join("\n", Enumerable.Range(0, 4).Select(i => $"{i}.pgm {i}")));
            string Failure(uint prefetch)
            {
                var p = new LayerParameter
                {
                    Name = "img",
                    Type = "ImageData",
                    ImageDataParam = new ImageDataParameter { Source = list, RootFolder = dir + "/", BatchSize = 2, IsColor = false },
                    DataParam = new DataParameter { Prefetch = prefetch },
                };
                using var layer = (ImageDataLayer)LayerRegistry.Create(p);
                var tops = new List<Blob> { new("data"), new("label") };
                layer.SetUp([], tops);
                Assert.That(Next(layer, tops).data, Is.EqualTo(new float[] { 1, 2 }));
                return Assert.Throws<EngineException>(() => layer.Forward([], tops))!.Message;
            }
            var sync = Failure(0);
            Assert.That(sync, Does.StartWith("layer \"img\" (ImageData): ").And.Contain("2.pgm"));
            Assert.That(Failure(3), Is.EqualTo(sync));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Test]
    public void ACorruptLmdbRecordOnThePrefetchThreadReadsAsInForward()
    {
        if (!Engine.IO.Lmdb.IsAvailable) Assert.Ignore("liblmdb is not installed (Debian: apt-get install liblmdb0); CI installs it");
        var dir = Path.Combine(Path.GetTempPath(), "engine-prefetch-" + Guid.NewGuid().ToString("N"));
        try
        {
            var db = Path.Combine(dir, "db_lmdb");
            using (var w = new Engine.IO.LmdbWriter(db))
            {
                for (int i = 0; i < 3; i++)
                    w.Put(Encoding.ASCII.GetBytes($"{i:D8}"), new Datum { Channels = 1, Height = 1, Width = 2, Label = i, Data = ByteString.CopyFrom((byte)i, (byte)(10 + i)) }.ToByteArray());
                w.Put("00000003"u8.ToArray(), [0xFF, 0xFF, 0xFF]);
                w.Commit();
            }
            string Failure(uint prefetch)
            {
                var p = new LayerParameter
                {
                    Name = "lmdb",
                    Type = "Data",
                    DataParam = new DataParameter { Source = db, Backend = DataParameter.Types.DB.Lmdb, BatchSize = 2, Prefetch = prefetch },
                };
                using var layer = (DataLayer)LayerRegistry.Create(p);
                var tops = new List<Blob> { new("data"), new("label") };
                layer.SetUp([], tops);
                var (data, labels) = Next(layer, tops);
                Assert.That(data, Is.EqualTo(new float[] { 0, 10, 1, 11 }));
                Assert.That(labels, Is.EqualTo(new float[] { 0, 1 }));
                return Assert.Throws<EngineException>(() => layer.Forward([], tops))!.Message;
            }
            var sync = Failure(0);
            Assert.That(sync, Does.StartWith("layer \"lmdb\" (Data): ").And.Contain("record \"00000003\"").And.Contain("not a Datum"));
            Assert.That(Failure(4), Is.EqualTo(sync));
        }
        finally
        {
            if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
        }
    }

    [Test]
    public void NetDisposeStopsItsDataThreadsAndSumsTheirWait()
    {
        var dir = Path.Combine(Path.GetTempPath(), "engine-prefetch-" + Guid.NewGuid().ToString("N"));
        try
        {
            var (images, labels) = IdxFiles.WriteLearnable(dir, 20, 4, 4, 2);
            var text = $$"""
                layer { name: "d" type: "Data" top: "data" top: "label"
                  data_param { source: "{{images}}" label_source: "{{labels}}" backend: IDX batch_size: 4 prefetch: 0 } }
                layer { name: "e" type: "Data" top: "data2"
                  data_param { source: "{{images}}" backend: IDX batch_size: 2 prefetch: 3 } }
                """;
            var net = new Net(Engine.Text.ProtoText.Parse<NetParameter>(text), new NetState { Phase = Phase.Train }, quiet: true);
            net.Forward();
            var d = (PrefetchingDataLayer)net.Layer("d");
            var e = (PrefetchingDataLayer)net.Layer("e");
            Assert.That(net.DataWait, Is.EqualTo(d.DataWait + e.DataWait));
            Assert.That(d.DataWait, Is.GreaterThan(TimeSpan.Zero), "prefetch 0: the read itself is the wait");
            var thread = e.PrefetchThread!;
            net.Dispose();
            Assert.That(thread.Join(TimeSpan.FromSeconds(10)));
        }
        finally
        {
            if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
        }
    }
}
