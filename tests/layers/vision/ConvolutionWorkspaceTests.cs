using Engine.Core;
using Engine.Cpu;
using Engine.Layers;
using Engine.Tests.Support;
using NUnit.Framework;
using static Engine.Tests.Support.VisionTestHelpers;

namespace Engine.Tests.Layers.Vision;

/// <summary>
/// Convolution layers run on one thread share one set of column and partial-gradient buffers.
/// Interleaving two layers of different sizes (as a net does: forward A, forward B, backward B,
/// backward A) must give exactly what each layer gives alone, and the shared set must be as large
/// as the larger layer needs, not the sum.
/// </summary>
[TestFixture]
[NonParallelizable] // sets WorkerPool.Threads, BaseConvolutionLayer.RoundsAbove and FoldBelow
public class ConvolutionWorkspaceTests
{
    private int savedFold;

    // These small layers would fold their images into one product (no per-image buffers); the
    // per-image machinery is what is tested here.
    [SetUp]
    public void PerImage() => (savedFold, BaseConvolutionLayer.FoldBelow) = (BaseConvolutionLayer.FoldBelow, 0);

    [TearDown]
    public void Restore() => BaseConvolutionLayer.FoldBelow = savedFold;

    private static (Layer layer, Blob bottom, Blob[] tops) Make(string conv, int[] shape, ulong seed)
    {
        var bottom = TestData.Random("b", shape, seed);
        var (layer, tops) = SetUp(TestData.Layer($$"""
            name: "c" type: "Convolution"
            convolution_param { {{conv}} weight_filler { type: "uniform" min: -1 max: 1 } bias_filler { type: "uniform" min: -1 max: 1 } }
            """), [bottom]);
        TestData.Random("dy", tops[0].Shape.ToArray(), seed + 1).Data.CopyTo(tops[0].Diff);
        return (layer, bottom, tops);
    }

    // Both strided: stride-1 "same" convolutions need no column buffer (see NoColumnBufferForSameConvolutions).
    private const string Big = "num_output: 6 kernel_size: 5 pad: 2 stride: 2";
    private const string Small = "num_output: 3 kernel_size: 3 stride: 2";
    private static readonly int[] BigShape = [4, 5, 12, 11], SmallShape = [3, 2, 7, 7];

    private static float[][] Results(Layer layer, Blob bottom, Blob[] tops) =>
        [tops[0].Data.ToArray(), bottom.Diff.ToArray(), .. layer.Blobs.Select(b => b.Diff.ToArray())];

    /// <summary>One layer alone, on a thread of its own (so with a workspace of its own).</summary>
    private static (float[][] results, long workspaceBytes) Alone(string conv, int[] shape, ulong seed)
    {
        float[][] result = [];
        long bytes = 0;
        var thread = new Thread(() =>
        {
            var (layer, bottom, tops) = Make(conv, shape, seed);
            layer.Forward([bottom], tops);
            Backward(layer, [bottom], tops);
            result = Results(layer, bottom, tops);
            bytes = ConvolutionWorkspace.BytesOnThisThread;
        });
        thread.Start();
        thread.Join();
        Assert.That(bytes, Is.GreaterThan(0), "a convolution takes its buffers from the thread's workspace");
        return (result, bytes);
    }

    /// <summary>A stride-1 convolution padded to keep its size packs its products from the images
    /// (forward, weight gradient, and the bottom gradient as a convolution with flipped weights):
    /// it takes no column buffer at all. A strided one still needs one for col2im.</summary>
    [Test]
    public void NoColumnBufferForSameConvolutions()
    {
        long[] columns = new long[2];
        var thread = new Thread(() =>
        {
            var (layer, bottom, tops) = Make("num_output: 6 kernel_size: 5 pad: 2", BigShape, 3);
            layer.Forward([bottom], tops);
            Backward(layer, [bottom], tops);
            columns[0] = ConvolutionWorkspace.ForThisThread.Columns(1, 0)[0].Length;
            var (strided, sb, st) = Make(Big, BigShape, 3);
            strided.Forward([sb], st);
            columns[1] = ConvolutionWorkspace.ForThisThread.Columns(1, 0)[0].Length;
        });
        thread.Start();
        thread.Join();
        Assert.That(columns[0], Is.EqualTo(0), "stride 1, pad 2, kernel 5");
        Assert.That(columns[1], Is.EqualTo(5 * 5 * 5 * 6 * 6), "stride 2");
    }

    [Test]
    public void InterleavedLayersGiveWhatEachGivesAlone()
    {
        var (bigAlone, bigBytes) = Alone(Big, BigShape, 3);
        var (smallAlone, _) = Alone(Small, SmallShape, 7);
        float[][] big = [], small = [];
        long shared = 0;
        var thread = new Thread(() =>
        {
            var (a, ab, at) = Make(Big, BigShape, 3);
            var (b, bb, bt) = Make(Small, SmallShape, 7);
            a.Forward([ab], at);
            b.Forward([bb], bt);
            Backward(b, [bb], bt);
            Backward(a, [ab], at);
            big = Results(a, ab, at);
            small = Results(b, bb, bt);
            shared = ConvolutionWorkspace.BytesOnThisThread;
        });
        thread.Start();
        thread.Join();
        for (int i = 0; i < big.Length; i++) Assert.That(big[i], Is.EqualTo(bigAlone[i]), $"large layer, result {i}");
        for (int i = 0; i < small.Length; i++) Assert.That(small[i], Is.EqualTo(smallAlone[i]), $"small layer, result {i}");
        // Everything the small layer needs fits in what the large one took: the set is shared,
        // not one per layer.
        Assert.That(shared, Is.EqualTo(bigBytes), "workspace bytes with both layers vs the large layer alone");
    }

    /// <summary>
    /// Chunks run in rounds of one per worker slot (what large layers do) give the gradients the
    /// one loop over all chunks gives, bit for bit, on any thread count, with one partial buffer
    /// per slot instead of one per chunk: 7 images make 7 chunks, in rounds of 2, 2, 2, 1 on two
    /// threads.
    /// </summary>
    [Test]
    public void ChunksInRoundsGiveTheSameGradientsWithABufferPerSlot()
    {
        int savedThreads = WorkerPool.Threads;
        long savedRounds = BaseConvolutionLayer.RoundsAbove;
        try
        {
            float[][]? reference = null;
            foreach (var (threads, rounds) in new[] { (1, false), (2, false), (2, true), (3, true), (1, true) })
            {
                WorkerPool.Threads = threads;
                BaseConvolutionLayer.RoundsAbove = rounds ? 0 : long.MaxValue;
                float[][] results = [];
                int partials = 0;
                var thread = new Thread(() =>
                {
                    var (layer, bottom, tops) = Make(Big, [7, 5, 12, 11], 5);
                    layer.Forward([bottom], tops);
                    Backward(layer, [bottom], tops);
                    results = Results(layer, bottom, tops);
                    partials = ConvolutionWorkspace.ForThisThread.Partials(0, 0, 0).weights.Length;
                });
                thread.Start();
                thread.Join();
                reference ??= results;
                for (int i = 0; i < results.Length; i++)
                    Assert.That(results[i], Is.EqualTo(reference[i]), $"{threads} threads, rounds {rounds}: result {i}");
                int expected = rounds ? threads : 7;
                Assert.That(partials, Is.EqualTo(expected), $"{threads} threads, rounds {rounds}: partial-gradient buffers");
            }
        }
        finally
        {
            WorkerPool.Threads = savedThreads;
            BaseConvolutionLayer.RoundsAbove = savedRounds;
        }
    }

    /// <summary>
    /// Layers announce their needs (columns when reshaped, partial gradients when run forward), so
    /// the small layer, run first, already takes buffers as large as the large layer needs: the
    /// large layer then replaces none of them (a replaced buffer is garbage that stays resident),
    /// and each layer still gives what it gives alone.
    /// </summary>
    [Test]
    public void BuffersAreMadeOnceAtTheLargestAnnouncedSize()
    {
        var (bigAlone, bigBytes) = Alone(Big, BigShape, 3);
        var (smallAlone, _) = Alone(Small, SmallShape, 7);
        float[][] big = [], small = [], columnsFirst = [], columnsLast = [], partialsFirst = [], partialsLast = [];
        long shared = 0;
        var thread = new Thread(() =>
        {
            var (a, ab, at) = Make(Big, BigShape, 3);
            var (b, bb, bt) = Make(Small, SmallShape, 7);
            var workspace = ConvolutionWorkspace.ForThisThread;
            b.Forward([bb], bt);
            columnsFirst = workspace.Columns(0, 0).ToArray();
            a.Forward([ab], at);
            Backward(b, [bb], bt);
            partialsFirst = workspace.Partials(0, 0, 0).weights.ToArray();
            Backward(a, [ab], at);
            columnsLast = workspace.Columns(0, 0).ToArray();
            partialsLast = workspace.Partials(0, 0, 0).weights.ToArray();
            big = Results(a, ab, at);
            small = Results(b, bb, bt);
            shared = ConvolutionWorkspace.BytesOnThisThread;
        });
        thread.Start();
        thread.Join();
        for (int i = 0; i < big.Length; i++) Assert.That(big[i], Is.EqualTo(bigAlone[i]), $"large layer, result {i}");
        for (int i = 0; i < small.Length; i++) Assert.That(small[i], Is.EqualTo(smallAlone[i]), $"small layer, result {i}");
        Assert.That(columnsFirst, Is.Not.Empty);
        Assert.That(columnsFirst[0].Length, Is.EqualTo(5 * 5 * 5 * 6 * 6), "the large layer's im2col size: 5 channels x 5x5 kernel x 6x6 outputs");
        for (int i = 0; i < columnsFirst.Length; i++)
            Assert.That(columnsLast[i], Is.SameAs(columnsFirst[i]), $"column buffer {i} was replaced");
        // The small layer has 3 images, so 3 chunks; each already holds the large layer's 6x5x5x5 weights.
        Assert.That(partialsFirst, Has.Length.EqualTo(3));
        for (int i = 0; i < partialsFirst.Length; i++)
        {
            Assert.That(partialsFirst[i].Length, Is.EqualTo(6 * 5 * 5 * 5), $"partial gradient {i}");
            Assert.That(partialsLast[i], Is.SameAs(partialsFirst[i]), $"partial gradient {i} was replaced");
        }
        Assert.That(shared, Is.EqualTo(bigBytes), "workspace bytes with both layers vs the large layer alone");
    }

}
