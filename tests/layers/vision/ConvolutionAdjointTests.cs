using Engine.Core;
using Engine.Cpu;
using Engine.Layers;
using Engine.Tests.Support;
using NUnit.Framework;
using static Engine.Tests.Support.VisionTestHelpers;

namespace Engine.Tests.Layers.Vision;

/// <summary>
/// Stride-1 convolutions padded to (about) their own size compute col2im(Wᵀ·dy) — the bottom
/// gradient, or a deconvolution's forward — as a convolution of dy with the flipped weights. Against
/// col2im itself (<see cref="BaseConvolutionLayer.FlippedAdjoint"/> off): the same numbers up to
/// rounding, for groups, dilation, rectangular kernels and pads, on one and two threads.
/// </summary>
[TestFixture]
[NonParallelizable] // sets BaseConvolutionLayer.FlippedAdjoint and WorkerPool.Threads
public class ConvolutionAdjointTests
{
    private static IEnumerable<TestCaseData> Cases()
    {
        yield return new TestCaseData("Convolution", "num_output: 8 kernel_size: 5 pad: 2", new[] { 3, 6, 9, 10 }).SetName("5x5 pad 2");
        yield return new TestCaseData("Convolution", "num_output: 6 kernel_size: 3 pad: 1 group: 2", new[] { 2, 4, 7, 7 }).SetName("3x3 pad 1, 2 groups");
        yield return new TestCaseData("Convolution", "num_output: 4 kernel_h: 3 kernel_w: 5 pad_h: 1 pad_w: 2", new[] { 2, 3, 6, 11 }).SetName("3x5 kernel");
        yield return new TestCaseData("Convolution", "num_output: 40 kernel_size: 3 pad: 1 group: 2", new[] { 2, 18, 5, 6 }).SetName("3x3 pad 1, 2 groups of 20 outputs x 9 inputs (flipped in tiles of 8)");
        yield return new TestCaseData("Convolution", "num_output: 4 kernel_size: 3 dilation: 2 pad: 2", new[] { 2, 3, 8, 9 }).SetName("dilation 2");
        yield return new TestCaseData("Convolution", "num_output: 5 kernel_size: 3 pad: 0", new[] { 2, 3, 16, 16 }).SetName("3x3 pad 0 on 16x16 (col2im path: the padding would add 30%)");
        yield return new TestCaseData("Deconvolution", "num_output: 4 kernel_size: 3 pad: 1 group: 2", new[] { 2, 6, 5, 6 }).SetName("deconvolution 3x3 pad 1");
        yield return new TestCaseData("Deconvolution", "num_output: 3 kernel_size: 3 pad: 0", new[] { 2, 2, 6, 6 }).SetName("deconvolution 3x3 pad 0 (col2im path)");
    }

    private static float[][] Run(string type, string conv, int[] shape, bool flipped, int threads)
    {
        bool savedFlag = BaseConvolutionLayer.FlippedAdjoint;
        int savedThreads = WorkerPool.Threads;
        try
        {
            BaseConvolutionLayer.FlippedAdjoint = flipped;
            WorkerPool.Threads = threads;
            var bottom = TestData.Random("x", shape, seed: 5);
            var (layer, tops) = SetUp(TestData.Layer($$"""
                name: "c" type: "{{type}}"
                convolution_param { {{conv}} weight_filler { type: "uniform" min: -1 max: 1 } bias_filler { type: "uniform" min: -1 max: 1 } }
                """), [bottom]);
            layer.Forward([bottom], tops);
            TestData.Random("dy", tops[0].Shape.ToArray(), seed: 6).Data.CopyTo(tops[0].Diff);
            Backward(layer, [bottom], tops);
            return [tops[0].Data.ToArray(), bottom.Diff.ToArray(), layer.Blobs[0].Diff.ToArray(), layer.Blobs[1].Diff.ToArray()];
        }
        finally
        {
            BaseConvolutionLayer.FlippedAdjoint = savedFlag;
            WorkerPool.Threads = savedThreads;
        }
    }

    [TestCaseSource(nameof(Cases))]
    public void FlippedWeightsGiveWhatCol2ImGives(string type, string conv, int[] shape)
    {
        var reference = Run(type, conv, shape, flipped: false, threads: 1);
        string[] names = ["top", "bottom gradient", "weight gradient", "bias gradient"];
        foreach (int threads in new[] { 1, 2 })
        {
            var got = Run(type, conv, shape, flipped: true, threads);
            for (int i = 0; i < names.Length; i++) AssertClose(got[i], reference[i], $"{names[i]}, {threads} thread(s)", 1e-5);
        }
    }
}
