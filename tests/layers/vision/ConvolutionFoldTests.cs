using Engine.Cpu;
using Engine.Layers;
using Engine.Tests.Support;
using NUnit.Framework;
using static Engine.Tests.Support.VisionTestHelpers;

namespace Engine.Tests.Layers.Vision;

/// <summary>
/// Convolutions with few output positions per image fold several images into one product (their
/// outputs side by side; the weight gradient summed over them along k). Against the same layer run
/// one image at a time (<see cref="BaseConvolutionLayer.FoldBelow"/> = 0): the same tops and
/// gradients up to rounding, for groups, strides (bottom gradient by col2im), 1×1 kernels, two
/// bottoms sharing the weights, a batch that does not divide into folds, and frozen parameters;
/// and on one thread the same bits as on two.
/// </summary>
[TestFixture]
[NonParallelizable] // sets BaseConvolutionLayer.FoldBelow and WorkerPool.Threads
public class ConvolutionFoldTests
{
    private static IEnumerable<TestCaseData> Cases()
    {
        yield return new TestCaseData("num_output: 8 kernel_size: 5 pad: 2", new[] { 5, 6, 8, 8 }, 1, false).SetName("5x5 pad 2, 5 images");
        yield return new TestCaseData("num_output: 6 kernel_size: 3 pad: 1 group: 2", new[] { 4, 4, 7, 7 }, 1, false).SetName("3x3 pad 1, 2 groups");
        yield return new TestCaseData("num_output: 5 kernel_size: 3 stride: 2 pad: 1", new[] { 7, 3, 9, 10 }, 1, false).SetName("stride 2 (bottom gradient by col2im)");
        yield return new TestCaseData("num_output: 12 kernel_size: 1", new[] { 9, 16, 7, 7 }, 1, false).SetName("1x1 (ResNet stage 5 shape)");
        yield return new TestCaseData("num_output: 12 kernel_size: 1 stride: 2", new[] { 6, 8, 9, 9 }, 1, false).SetName("1x1 stride 2");
        yield return new TestCaseData("num_output: 8 kernel_size: 1 group: 2", new[] { 5, 6, 5, 5 }, 2, false).SetName("1x1, 2 groups, two bottoms");
        yield return new TestCaseData("num_output: 4 kernel_size: 3 dilation: 2 pad: 2 bias_term: false", new[] { 3, 3, 6, 7 }, 1, false).SetName("dilation 2, no bias");
        yield return new TestCaseData("num_output: 4 kernel_size: 3 pad: 1", new[] { 6, 3, 5, 5 }, 2, false).SetName("two bottoms");
        yield return new TestCaseData("num_output: 4 kernel_size: 3 pad: 1", new[] { 6, 3, 5, 5 }, 1, true).SetName("weights frozen");
    }

    private static float[][] Run(string conv, int[] shape, int bottoms, bool frozen, int foldBelow, int threads)
    {
        int savedFold = BaseConvolutionLayer.FoldBelow, savedThreads = WorkerPool.Threads;
        try
        {
            BaseConvolutionLayer.FoldBelow = foldBelow;
            WorkerPool.Threads = threads;
            var bs = Enumerable.Range(0, bottoms).Select(i => TestData.Random($"x{i}", shape, seed: (ulong)(5 + i))).ToArray();
            var (layer, tops) = SetUp(TestData.Layer($$"""
                name: "c" type: "Convolution"
                convolution_param { {{conv}} weight_filler { type: "uniform" min: -1 max: 1 } bias_filler { type: "uniform" min: -1 max: 1 } }
                """), bs);
            if (frozen) layer.ParamPropagateDown = [false, false];
            layer.Forward(bs, tops);
            for (int i = 0; i < tops.Length; i++) TestData.Random($"dy{i}", tops[i].Shape.ToArray(), seed: (ulong)(9 + i)).Data.CopyTo(tops[i].Diff);
            Backward(layer, bs, tops);
            return [.. tops.Select(t => t.Data.ToArray()), .. bs.Select(b => b.Diff.ToArray()), .. layer.Blobs.Select(b => b.Diff.ToArray())];
        }
        finally
        {
            BaseConvolutionLayer.FoldBelow = savedFold;
            WorkerPool.Threads = savedThreads;
        }
    }

    [TestCaseSource(nameof(Cases))]
    public void FoldedGivesWhatOneImageAtATimeGives(string conv, int[] shape, int bottoms, bool frozen)
    {
        var perImage = Run(conv, shape, bottoms, frozen, foldBelow: 0, threads: 1);
        var folded = Run(conv, shape, bottoms, frozen, foldBelow: 1 << 20, threads: 2);
        Assert.That(folded, Has.Length.EqualTo(perImage.Length));
        for (int i = 0; i < perImage.Length; i++) AssertClose(folded[i], perImage[i], $"result {i}", 1e-5);
        var oneThread = Run(conv, shape, bottoms, frozen, foldBelow: 1 << 20, threads: 1);
        for (int i = 0; i < perImage.Length; i++) Assert.That(oneThread[i], Is.EqualTo(folded[i]), $"result {i}: 1 thread vs 2");
    }
}
