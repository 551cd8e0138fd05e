using Engine.Core;
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
public class ConvolutionWorkspaceTests
{
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

    private const string Big = "num_output: 6 kernel_size: 5 pad: 2";
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

}
