using Engine.Core;
using Engine.Layers;
using Engine.Proto;
using Engine.Tests.Support;
using NUnit.Framework;
using static Engine.Tests.Support.VisionTestHelpers;

namespace Engine.Tests.Layers.Vision;

/// <summary>N-D (1-D, 3-D) convolution and deconvolution, and Marvin's synonyms for the window fields.</summary>
[TestFixture]
public class NdConvolutionTests
{
    private static LayerParameter Layer(string type, ConvolutionParameter p, string name = "conv") =>
        new() { Name = name, Type = type, ConvolutionParam = p };

    private static ConvolutionParameter Param(int numOutput, int group, uint dilation, bool bias = true)
    {
        var p = new ConvolutionParameter
        {
            NumOutput = (uint)numOutput,
            Group = (uint)group,
            KernelSize = { 3 },
            Stride = { 2 },
            Pad = { 1 },
            Dilation = { dilation },
            WeightFiller = Uniform(),
            BiasTerm = bias,
        };
        if (bias) p.BiasFiller = Uniform();
        return p;
    }

    /// <summary>The convolution sum written out over any number of spatial axes.</summary>
    private static float[] NaiveConv(Blob x, ReadOnlySpan<float> w, ReadOnlySpan<float> bias, int outChannels, int group,
        int k, int s, int p, int dil, int[] outSpatial)
    {
        int num = x.Dim(0), channels = x.Dim(1), axes = x.NumAxes - 2;
        var inSpatial = Enumerable.Range(0, axes).Select(a => x.Dim(a + 2)).ToArray();
        var kernel = Enumerable.Repeat(k, axes).ToArray();
        int inCount = Product(inSpatial), outCount = Product(outSpatial), kCount = Product(kernel);
        int cg = channels / group, og = outChannels / group;
        var result = new float[num * outChannels * outCount];
        var xd = x.Data;
        for (int n = 0; n < num; n++)
            for (int o = 0; o < outChannels; o++)
                for (int op = 0; op < outCount; op++)
                {
                    var oi = Unravel(op, outSpatial);
                    double sum = bias.IsEmpty ? 0 : bias[o];
                    int g = o / og;
                    for (int c = 0; c < cg; c++)
                        for (int kp = 0; kp < kCount; kp++)
                        {
                            var ki = Unravel(kp, kernel);
                            int flat = 0;
                            bool inside = true;
                            for (int a = 0; a < axes; a++)
                            {
                                int pos = oi[a] * s - p + ki[a] * dil;
                                if (pos < 0 || pos >= inSpatial[a]) inside = false;
                                flat = flat * inSpatial[a] + pos;
                            }
                            if (!inside) continue;
                            sum += (double)w[(o * cg + c) * kCount + kp] * xd[((n * channels) + g * cg + c) * inCount + flat];
                        }
                    result[(n * outChannels + o) * outCount + op] = (float)sum;
                }
        return result;
    }

    private static void CheckAgainstNaive(int[] shape, int numOutput, int group, uint dilation)
    {
        var bottom = TestData.Random("data", shape, seed: 11);
        var (layer, tops) = SetUp(Layer("Convolution", Param(numOutput, group, dilation)), [bottom]);
        int axes = shape.Length - 2;
        var expectedSpatial = shape.Skip(2).Select(i => (i + 2 - ((int)dilation * 2 + 1)) / 2 + 1).ToArray();
        Assert.That(tops[0].Shape, Is.EqualTo(new[] { shape[0], numOutput }.Concat(expectedSpatial).ToArray()));
        Assert.That(layer.Blobs[0].Shape, Is.EqualTo(new[] { numOutput, shape[1] / group }.Concat(Enumerable.Repeat(3, axes)).ToArray()));
        layer.Forward([bottom], tops);
        var expected = NaiveConv(bottom, layer.Blobs[0].Data, layer.Blobs[1].Data, numOutput, group, 3, 2, 1, (int)dilation, expectedSpatial);
        AssertClose(tops[0].Data, expected, $"{axes}-D convolution", 1e-4);
    }

    [TestCase(1u, 1)]
    [TestCase(2u, 1)]
    [TestCase(1u, 2)]
    [TestCase(2u, 2)]
    public void Forward3DMatchesNaive(uint dilation, int group) => CheckAgainstNaive([2, 2, 5, 6, 4], 4, group, dilation);

    [TestCase(1u, 1)]
    [TestCase(2u, 3)]
    public void Forward1DMatchesNaive(uint dilation, int group) => CheckAgainstNaive([2, 3, 9], 6, group, dilation);

    [TestCase(1u, 1)]
    [TestCase(2u, 2)]
    public void Gradient3D(uint dilation, int group)
    {
        var bottom = TestData.Random("data", [2, 2, 5, 6, 4], seed: 3);
        var (layer, tops) = SetUp(Layer("Convolution", Param(4, group, dilation)), [bottom]);
        new GradientChecker(1e-2f, 1e-2f).Check(layer, [bottom], tops);
    }

    [TestCase(1u, 1)]
    [TestCase(2u, 3)]
    public void Gradient1D(uint dilation, int group)
    {
        var bottom = TestData.Random("data", [2, 3, 9], seed: 4);
        var (layer, tops) = SetUp(Layer("Convolution", Param(6, group, dilation)), [bottom]);
        new GradientChecker(1e-2f, 1e-2f).Check(layer, [bottom], tops);
    }

    [Test]
    public void PerAxisValuesAndOneByOne3D()
    {
        var bottom = TestData.Random("data", [1, 2, 5, 6, 4], seed: 5);
        var (layer, tops) = SetUp(Layer("Convolution", new ConvolutionParameter
        {
            NumOutput = 3,
            KernelSize = { 3, 1, 2 },
            Stride = { 1, 2, 1 },
            Pad = { 0, 1, 1 },
            WeightFiller = Uniform(),
        }), [bottom]);
        // (5 − 3) + 1 = 3; (6 + 2 − 1) / 2 + 1 = 4; (4 + 2 − 2) + 1 = 5.
        Assert.That(tops[0].Shape, Is.EqualTo(new[] { 1, 3, 3, 4, 5 }));
        Assert.That(layer.Blobs[0].Shape, Is.EqualTo(new[] { 3, 2, 3, 1, 2 }));

        var (one, oneTops) = SetUp(Layer("Convolution", new ConvolutionParameter { NumOutput = 3, KernelSize = { 1 }, WeightFiller = Uniform(), BiasTerm = false }), [bottom]);
        one.Forward([bottom], oneTops);
        var expected = NaiveConv(bottom, one.Blobs[0].Data, default, 3, 1, 1, 1, 0, 1, [5, 6, 4]);
        AssertClose(oneTops[0].Data, expected, "1×1×1 convolution", 1e-5);
    }

    [Test]
    public void ForceNdIm2colMatchesThe2DPath()
    {
        var bottom = TestData.Random("data", [2, 4, 7, 6], seed: 6);
        var p = Param(6, 2, 2);
        var (fast, t1) = SetUp(Layer("Convolution", p), [bottom]);
        var pNd = p.Clone();
        pNd.ForceNdIm2Col = true;
        var (nd, t2) = SetUp(Layer("Convolution", pNd), [bottom]);
        Assert.That(nd.Blobs[0].Data.ToArray(), Is.EqualTo(fast.Blobs[0].Data.ToArray()));
        fast.Forward([bottom], t1);
        nd.Forward([bottom], t2);
        AssertClose(t2[0].Data, t1[0].Data, "force_nd_im2col", 1e-5);
        new GradientChecker(1e-2f, 1e-2f).Check(nd, [bottom], t2);
    }

    [Test]
    public void ChannelAxisTwoTreatsTheLeadingAxesAsImages()
    {
        // axis 2 on 2×3×4×9: six images of 4 channels, one spatial axis of 9.
        var bottom = TestData.Random("data", [2, 3, 4, 9], seed: 12);
        var flat = new Blob("flat", 6, 4, 9);
        bottom.Data.CopyTo(flat.Data);
        var p = Param(2, 2, 2);
        var pAxis = p.Clone();
        pAxis.Axis = 2;
        var (onAxis, t1) = SetUp(Layer("Convolution", pAxis), [bottom]);
        var (plain, t2) = SetUp(Layer("Convolution", p), [flat]);
        Assert.That(t1[0].Shape, Is.EqualTo(new[] { 2, 3, 2, 4 }));
        onAxis.Forward([bottom], t1);
        plain.Forward([flat], t2);
        Assert.That(t1[0].Data.ToArray(), Is.EqualTo(t2[0].Data.ToArray()));
    }

    [Test]
    public void HeightWidthFormsAre2DOnly()
    {
        var bottom = TestData.Random("data", [1, 2, 5, 6, 4]);
        var ex = Assert.Throws<EngineException>(() => SetUp(Layer("Convolution", new ConvolutionParameter { NumOutput = 2, KernelH = 3, KernelW = 3 }, "c3"), [bottom]));
        Assert.That(ex!.Message, Does.Contain("c3").And.Contain("2 spatial axes only"));
        ex = Assert.Throws<EngineException>(() => SetUp(Layer("Convolution", new ConvolutionParameter { NumOutput = 2, KernelSize = { 3, 3 } }, "c3"), [bottom]));
        Assert.That(ex!.Message, Does.Contain("once per spatial axis (3)"));
    }

    // ---- deconvolution ---------------------------------------------------------------------

    [TestCase(1u, 1)]
    [TestCase(2u, 2)]
    public void Deconvolution3DIsTheAdjoint(uint dilation, int group)
    {
        // Shapes where deconvolution gives back the convolution's input extents.
        var x = TestData.Random("x", [2, 2, 5, 7, 3], seed: 7);
        var (conv, convTop) = SetUp(Layer("Convolution", Param(4, group, dilation, bias: false)), [x]);
        var y = TestData.Random("y", convTop[0].Shape.ToArray(), seed: 8);
        var (deconv, deconvTop) = SetUp(Layer("Deconvolution", Param(2, group, dilation, bias: false), "deconv"), [y]);
        Assert.That(deconvTop[0].Shape, Is.EqualTo(x.Shape));
        Assert.That(deconv.Blobs[0].Shape, Is.EqualTo(conv.Blobs[0].Shape));
        conv.Blobs[0].Data.CopyTo(deconv.Blobs[0].Data);

        conv.Forward([x], convTop);
        deconv.Forward([y], deconvTop);
        double lhs = 0, rhs = 0;
        for (int i = 0; i < y.Count; i++) lhs += (double)convTop[0].Data[i] * y.Data[i];
        for (int i = 0; i < x.Count; i++) rhs += (double)x.Data[i] * deconvTop[0].Data[i];
        Assert.That(lhs, Is.EqualTo(rhs).Within(1e-4 * Math.Max(1, Math.Abs(lhs))));
    }

    [Test]
    public void Deconvolution3DGradient()
    {
        var y = TestData.Random("y", [2, 4, 3, 2, 2], seed: 9);
        var (deconv, tops) = SetUp(Layer("Deconvolution", Param(2, 2, 1), "deconv"), [y]);
        Assert.That(tops[0].Shape, Is.EqualTo(new[] { 2, 2, 5, 3, 3 }));
        new GradientChecker(1e-2f, 1e-2f).Check(deconv, [y], tops);
    }

    // ---- Marvin's synonyms -----------------------------------------------------------------

    [TestCase(3)]
    [TestCase(2)]
    public void MarvinSynonymsGiveTheCaffeResult(int spatialAxes)
    {
        int[] shape = spatialAxes == 3 ? [2, 2, 5, 6, 4] : [2, 2, 7, 6];
        var bottom = TestData.Random("data", shape, seed: 10);
        var (caffe, t1) = SetUp(TestData.Layer("""
            name: "c" type: "Convolution"
            convolution_param { num_output: 4 kernel_size: 3 stride: 2 pad: 1 dilation: 2 group: 2
                                weight_filler { type: "uniform" min: -1 max: 1 } bias_filler { type: "uniform" min: -1 max: 1 } }
            """), [bottom]);
        var (marvin, t2) = SetUp(TestData.Layer("""
            name: "c" type: "Convolution"
            convolution_param { num_output: 4 window: 3 stride: 2 padding: 1 upscale: 2 group: 2
                                weight_filler { type: "uniform" min: -1 max: 1 } bias_filler { type: "uniform" min: -1 max: 1 } }
            """), [bottom]);
        Assert.That(t2[0].Shape, Is.EqualTo(t1[0].Shape));
        Assert.That(marvin.Blobs[0].Data.ToArray(), Is.EqualTo(caffe.Blobs[0].Data.ToArray()));
        caffe.Forward([bottom], t1);
        marvin.Forward([bottom], t2);
        Assert.That(t2[0].Data.ToArray(), Is.EqualTo(t1[0].Data.ToArray()));
    }

    [TestCase("kernel_size: 3 window: 3", "window")]
    [TestCase("kernel_size: 3 pad: 1 padding: 1", "padding")]
    [TestCase("kernel_size: 3 dilation: 2 upscale: 2", "upscale")]
    [TestCase("kernel_h: 3 kernel_w: 3 window: 3", "window")]
    public void CaffeFieldAndMarvinSynonymIsAnError(string fields, string synonym)
    {
        var bottom = TestData.Random("data", [1, 2, 5, 6, 4]);
        var ex = Assert.Throws<EngineException>(() => SetUp(TestData.Layer($$"""
            name: "both" type: "Convolution" convolution_param { num_output: 2 {{fields}} }
            """), [bottom]));
        Assert.That(ex!.Message, Does.Contain("\"both\"").And.Contain(synonym).And.Contain("not both"));
    }
}
