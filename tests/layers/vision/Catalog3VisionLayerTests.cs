using Engine.Core;
using Engine.Layers;
using Engine.Proto;
using Engine.Tests.Support;
using NUnit.Framework;
using static Engine.Tests.Support.VisionTestHelpers;

namespace Engine.Tests.Layers.Vision;

/// <summary>Deconvolution, Im2col, SPP, STOCHASTIC pooling, LRN and Upsample.</summary>
[TestFixture]
public class Catalog3VisionLayerTests
{
    private static LayerParameter Deconv(ConvolutionParameter p, string name = "deconv") =>
        new() { Name = name, Type = "Deconvolution", ConvolutionParam = p };

    private static Blob Constant(string name, int[] shape, float value)
    {
        var b = new Blob(name, shape);
        b.Data.Fill(value);
        return b;
    }

    // ---- Deconvolution ---------------------------------------------------------------------

    [Test]
    public void DeconvolutionCaffeOverlapCounts()
    {
        // Caffe's test: k3 s2 num_output 4, weights 1, bias 0.1, all-ones input of 3 channels.
        var b0 = Constant("b0", [2, 3, 6, 4], 1);
        var b1 = Constant("b1", [2, 3, 6, 4], 1);
        var p = new ConvolutionParameter
        {
            NumOutput = 4,
            KernelSize = { 3 },
            Stride = { 2 },
            WeightFiller = new FillerParameter { Type = "constant", Value = 1 },
            BiasFiller = new FillerParameter { Type = "constant", Value = 0.1f },
        };
        var (layer, tops) = SetUp(Deconv(p), [b0, b1]);
        Assert.That(layer, Is.InstanceOf<DeconvolutionLayer>());
        Assert.That(layer.Blobs[0].Shape, Is.EqualTo(new[] { 3, 4, 3, 3 }));
        layer.Forward([b0, b1], tops);
        foreach (var top in tops)
        {
            Assert.That(top.Shape, Is.EqualTo(new[] { 2, 4, 13, 9 }));
            for (int n = 0; n < 2; n++)
                for (int c = 0; c < 4; c++)
                    for (int h = 0; h < 13; h++)
                        for (int w = 0; w < 9; w++)
                        {
                            bool hOverlap = h % 2 == 0 && h > 0 && h < 12;
                            bool wOverlap = w % 2 == 0 && w > 0 && w < 8;
                            float expected = 3.1f + (hOverlap && wOverlap ? 9 : hOverlap || wOverlap ? 3 : 0);
                            Assert.That(top.Data[((n * 4 + c) * 13 + h) * 9 + w], Is.EqualTo(expected).Within(1e-4), $"({n},{c},{h},{w})");
                        }
        }
    }

    private static void CheckDeconvFixture(string c, ConvolutionParameter p) => CheckFixtureCase(Deconv(p, c), c, "catalog3");

    [Test]
    public void DeconvolutionMatchesPyTorchStridePad() =>
        CheckDeconvFixture("deconv_k3s2p1", new ConvolutionParameter { NumOutput = 4, KernelSize = { 3 }, Stride = { 2 }, Pad = { 1 } });

    [Test]
    public void DeconvolutionMatchesPyTorchRectangularDilatedGrouped() =>
        CheckDeconvFixture("deconv_rect_dil_group", new ConvolutionParameter
        {
            NumOutput = 6,
            KernelSize = { 3, 2 },
            Stride = { 1, 2 },
            Pad = { 1, 0 },
            Dilation = { 2, 1 },
            Group = 2,
            BiasTerm = false,
        });

    [Test]
    public void DeconvolutionMatchesPyTorchOddSizes() =>
        CheckDeconvFixture("deconv_odd", new ConvolutionParameter { NumOutput = 3, KernelSize = { 4 }, Stride = { 3 }, Pad = { 2 } });

    [Test]
    public void DeconvolutionMatchesPyTorch1x1Grouped() =>
        CheckDeconvFixture("deconv_1x1_group", new ConvolutionParameter { NumOutput = 6, KernelSize = { 1 }, Group = 2 });

    [Test]
    public void DeconvolutionGradient()
    {
        var x = TestData.Random("x", [2, 4, 3, 3]);
        var (layer, tops) = SetUp(Deconv(new ConvolutionParameter
        {
            NumOutput = 4,
            KernelSize = { 3, 2 },
            Stride = { 2, 1 },
            Pad = { 1, 0 },
            Dilation = { 1, 2 },
            Group = 2,
            WeightFiller = Uniform(),
            BiasFiller = Uniform(),
        }), [x]);
        new GradientChecker().Check(layer, [x], tops);
    }

    [Test]
    public void DeconvolutionThatDoesNotFitIsAnError()
    {
        var x = TestData.Random("x", [1, 1, 1, 1]);
        var e = Assert.Throws<EngineException>(() => SetUp(Deconv(new ConvolutionParameter { NumOutput = 1, KernelSize = { 1 }, Pad = { 1 } }), [x]))!;
        Assert.That(e.Message, Does.Contain("does not fit"));
    }

    // ---- Im2col ----------------------------------------------------------------------------

    private static LayerParameter Im2col(ConvolutionParameter p) => new() { Name = "im2col", Type = "Im2col", ConvolutionParam = p };

    [Test]
    public void Im2colShapeWithDilation()
    {
        var x = TestData.Random("x", [2, 3, 10, 11]);
        var (_, tops) = SetUp(Im2col(new ConvolutionParameter { KernelSize = { 3 }, Stride = { 2 }, Dilation = { 3 } }), [x]);
        Assert.That(tops[0].Shape, Is.EqualTo(new[] { 2, 27, 2, 3 }));
    }

    [Test]
    public void Im2colRectangularKernelChannels()
    {
        var x = TestData.Random("x", [2, 3, 10, 11]);
        var (layer, tops) = SetUp(Im2col(new ConvolutionParameter { KernelH = 5, KernelW = 3, Stride = { 2 } }), [x]);
        layer.Forward([x], tops);
        var top = tops[0];
        for (int n = 0; n < 2; n++)
            for (int c = 0; c < 45; c++)
                Assert.That(top.Data[((n * 45 + c) * top.Dim(2)) * top.Dim(3)],
                    Is.EqualTo(x.Data[((n * 3 + c / 15) * 10 + (c / 3) % 5) * 11 + c % 3]), $"channel {c}");
    }

    [Test]
    public void Im2colGradient()
    {
        var x = TestData.Random("x", [2, 2, 5, 4]);
        var (layer, tops) = SetUp(Im2col(new ConvolutionParameter { KernelSize = { 3, 2 }, Stride = { 2, 1 }, Pad = { 1 } }), [x]);
        new GradientChecker().Check(layer, [x], tops);
    }

    // ---- SPP -------------------------------------------------------------------------------

    private static LayerParameter Spp(uint height, SPPParameter.Types.PoolMethod pool, Phase phase = Phase.Train) =>
        new() { Name = "spp", Type = "SPP", Phase = phase, SppParam = new SPPParameter { PyramidHeight = height, Pool = pool } };

    [Test]
    public void SppShape()
    {
        var x = TestData.Random("x", [2, 3, 9, 8]);
        var (layer, tops) = SetUp(Spp(3, SPPParameter.Types.PoolMethod.Max), [x]);
        // Caffe's test reads 2, 63, 1, 1 through its legacy accessors (missing trailing axes are
        // 1); the blob itself is 2×63, the concatenation of the flattened levels.
        Assert.That(tops[0].Shape, Is.EqualTo(new[] { 2, 63 }));
        layer.Forward([x], tops);
        // Level 0 is a global max per channel.
        for (int n = 0; n < 2; n++)
            for (int c = 0; c < 3; c++)
            {
                float max = float.MinValue;
                foreach (var v in x.Data.Slice((n * 3 + c) * 72, 72)) max = Math.Max(max, v);
                Assert.That(tops[0].Data[n * 63 + c], Is.EqualTo(max));
            }
        var (_, single) = SetUp(Spp(1, SPPParameter.Types.PoolMethod.Ave), [x]);
        Assert.That(single[0].Shape, Is.EqualTo(new[] { 2, 3, 1, 1 }));
    }

    [Test]
    public void SppGradientMax()
    {
        var x = Distinct("x", [1, 2, 9, 8]);
        var (layer, tops) = SetUp(Spp(3, SPPParameter.Types.PoolMethod.Max), [x]);
        new GradientChecker(step: 1e-3f).Check(layer, [x], tops);
    }

    [Test]
    public void SppGradientAve()
    {
        var x = TestData.Random("x", [2, 2, 5, 6]);
        var (layer, tops) = SetUp(Spp(2, SPPParameter.Types.PoolMethod.Ave), [x]);
        new GradientChecker().Check(layer, [x], tops);
    }

    // ---- STOCHASTIC pooling ----------------------------------------------------------------

    private static LayerParameter Stochastic(Phase phase) => new()
    {
        Name = "sto",
        Type = "Pooling",
        Phase = phase,
        PoolingParam = new PoolingParameter { Pool = PoolingParameter.Types.PoolMethod.Stochastic, KernelSize = 3, Stride = 2 },
    };

    [Test]
    public void StochasticPoolingTestIsTheWeightedAverage()
    {
        var x = TestData.Random("x", [2, 3, 7, 6], lo: 0, hi: 1);
        var (layer, tops) = SetUp(Stochastic(Phase.Test), [x]);
        layer.Forward([x], tops);
        var top = tops[0];
        Assert.That(top.Shape, Is.EqualTo(new[] { 2, 3, 3, 3 }));
        for (int pl = 0; pl < 6; pl++)
            for (int ph = 0; ph < 3; ph++)
                for (int pw = 0; pw < 3; pw++)
                {
                    double s = 0, s2 = 0;
                    for (int h = ph * 2; h < Math.Min(ph * 2 + 3, 7); h++)
                        for (int w = pw * 2; w < Math.Min(pw * 2 + 3, 6); w++)
                        {
                            double v = x.Data[(pl * 7 + h) * 6 + w];
                            s += v;
                            s2 += v * v;
                        }
                    Assert.That(top.Data[(pl * 3 + ph) * 3 + pw], Is.EqualTo(s2 / s).Within(1e-5));
                }
        Assert.That(layer.CanBackward(0), Is.False);
    }

    [Test]
    public void StochasticPoolingTrainSamplesWindowValuesAndRoutesTheGradient()
    {
        var x = TestData.Random("x", [2, 3, 7, 6], lo: 0, hi: 1);
        var (layer, tops) = SetUp(Stochastic(Phase.Train), [x]);
        layer.Rng = new Rng(5);
        layer.Forward([x], tops);
        var top = tops[0];
        var first = top.Data.ToArray();
        tops[0].Diff.Fill(1);
        Backward(layer, [x], tops);
        double diffSum = 0;
        foreach (var d in x.Diff) diffSum += d;
        Assert.That(diffSum, Is.EqualTo(top.Count));
        for (int pl = 0; pl < 6; pl++)
            for (int ph = 0; ph < 3; ph++)
                for (int pw = 0; pw < 3; pw++)
                {
                    float v = top.Data[(pl * 3 + ph) * 3 + pw];
                    bool found = false;
                    for (int h = ph * 2; h < Math.Min(ph * 2 + 3, 7); h++)
                        for (int w = pw * 2; w < Math.Min(pw * 2 + 3, 6); w++)
                            found |= x.Data[(pl * 7 + h) * 6 + w] == v && x.Diff[(pl * 7 + h) * 6 + w] > 0;
                    Assert.That(found, $"output ({pl},{ph},{pw}) = {v} is not a chosen value of its window");
                }
        // The same seed gives the same samples.
        layer.Rng = new Rng(5);
        layer.Forward([x], tops);
        Assert.That(top.Data.ToArray(), Is.EqualTo(first));
    }

    [Test]
    public void StochasticPoolingFollowsTheProbabilities()
    {
        // One 1×2 window [1, 3]: the 3 is drawn three times in four.
        var x = TestData.FromValues("x", [1, 1, 1, 2], 1, 3);
        var (layer, tops) = SetUp(new LayerParameter
        {
            Name = "sto",
            Type = "Pooling",
            PoolingParam = new PoolingParameter { Pool = PoolingParameter.Types.PoolMethod.Stochastic, KernelH = 1, KernelW = 2 },
        }, [x]);
        int threes = 0;
        for (int i = 0; i < 4000; i++)
        {
            layer.Forward([x], tops);
            if (tops[0].Data[0] == 3) threes++;
        }
        Assert.That(threes / 4000.0, Is.EqualTo(0.75).Within(0.03));
    }

    // ---- LRN -------------------------------------------------------------------------------

    private static LayerParameter Lrn(uint size, float alpha, float beta, float k, bool within) => new()
    {
        Name = "lrn",
        Type = "LRN",
        LrnParam = new LRNParameter
        {
            LocalSize = size,
            Alpha = alpha,
            Beta = beta,
            K = k,
            NormRegion = within ? LRNParameter.Types.NormRegion.WithinChannel : LRNParameter.Types.NormRegion.AcrossChannels,
        },
    };

    private static void CheckLrnFixture(string c, LayerParameter p) => CheckFixtureCase(p, c, "catalog3");

    [Test]
    public void LrnAcrossChannelsMatchesPyTorch()
    {
        CheckLrnFixture("lrn_across5", Lrn(5, 0.3f, 0.75f, 2, false));
        CheckLrnFixture("lrn_across3", Lrn(3, 1, 0.5f, 1, false));
    }

    [Test]
    public void LrnWithinChannelMatchesPyTorch() => CheckLrnFixture("lrn_within3", Lrn(3, 0.6f, 0.75f, 1, true));

    [Test]
    public void LrnGradients()
    {
        var x = TestData.Random("x", [2, 7, 3, 3]);
        var (across, t1) = SetUp(Lrn(5, 1.5f, 0.75f, 1, false), [x]);
        new GradientChecker().Check(across, [x], t1);
        var (within, t2) = SetUp(Lrn(3, 1.5f, 0.75f, 1, true), [x]);
        new GradientChecker().Check(within, [x], t2);
    }

    // Planes wider than a vector with a tail, more channels than the window, and each way the
    // power is taken (β = 0.75 by square roots, 0.5, 1, any other by exp/log): the forward against
    // the formula in double, the backward against numerical gradients.
    // local_size 11 is wider than the 9 channels.
    [TestCase(5u, 0.75f)]
    [TestCase(5u, 0.5f)]
    [TestCase(5u, 1f)]
    [TestCase(5u, 0.6f)]
    [TestCase(11u, 0.75f)]
    public void LrnAcrossChannelsOnWidePlanes(uint size, float beta)
    {
        int n = 2, c = 9, h = 3, w = 7, plane = h * w;
        var x = TestData.Random("x", [n, c, h, w], seed: 31, lo: -2, hi: 2);
        var (layer, tops) = SetUp(Lrn(size, 1.5f, beta, 1.25f, false), [x]);
        int pre = (int)size / 2;
        layer.Forward([x], tops);
        for (int img = 0; img < n; img++)
            for (int ch = 0; ch < c; ch++)
                for (int i = 0; i < plane; i++)
                {
                    double sum = 0;
                    for (int j = Math.Max(0, ch - pre); j <= Math.Min(c - 1, ch + pre); j++)
                        sum += Math.Pow(x.Data[(img * c + j) * plane + i], 2);
                    double v = x.Data[(img * c + ch) * plane + i];
                    double expected = v * Math.Pow(1.25 + 1.5 / size * sum, -beta);
                    Assert.That(tops[0].Data[(img * c + ch) * plane + i], Is.EqualTo(expected).Within(2e-6 * Math.Max(1, Math.Abs(expected))),
                        $"y[{img}, {ch}, {i}]");
                }
        new GradientChecker().Check(layer, [x], tops);
    }

    // WITHIN_CHANNEL on planes wider than a vector, windows 3 and 5 (clipped at every edge; the
    // divisor stays n²): the forward against the formula in double, the backward numerically.
    [TestCase(3u, 0.75f)]
    [TestCase(5u, 0.6f)]
    public void LrnWithinChannelOnWidePlanes(uint size, float beta)
    {
        int n = 2, c = 3, h = 6, w = 11, pre = (int)size / 2;
        var x = TestData.Random("x", [n, c, h, w], seed: 37, lo: -2, hi: 2);
        var (layer, tops) = SetUp(Lrn(size, 1.5f, beta, 1, true), [x]);
        layer.Forward([x], tops);
        for (int pl = 0; pl < n * c; pl++)
            for (int y = 0; y < h; y++)
                for (int z = 0; z < w; z++)
                {
                    double sum = 0;
                    for (int yy = Math.Max(0, y - pre); yy <= Math.Min(h - 1, y + pre); yy++)
                        for (int zz = Math.Max(0, z - pre); zz <= Math.Min(w - 1, z + pre); zz++)
                            sum += Math.Pow(x.Data[(pl * h + yy) * w + zz], 2);
                    int i = (pl * h + y) * w + z;
                    double expected = x.Data[i] * Math.Pow(1 + 1.5 / (size * size) * sum, -beta);
                    Assert.That(tops[0].Data[i], Is.EqualTo(expected).Within(2e-6 * Math.Max(1, Math.Abs(expected))), $"y[{pl}, {y}, {z}]");
                }
        new GradientChecker().Check(layer, [x], tops);
    }

    [Test]
    public void LrnEvenSizeIsAnError()
    {
        var x = TestData.Random("x", [1, 4, 2, 2]);
        Assert.That(Assert.Throws<EngineException>(() => SetUp(Lrn(4, 1, 0.75f, 1, false), [x]))!.Message, Does.Contain("odd"));
    }

    // ---- Upsample --------------------------------------------------------------------------

    private static LayerParameter Upsample(uint scale) =>
        new() { Name = "up", Type = "Upsample", UpsampleParam = new UpsampleParameter { Scale = scale } };

    [Test]
    public void UpsampleNearest()
    {
        var x = TestData.FromValues("x", [1, 1, 2, 2], 1, 2, 3, 4);
        var (layer, tops) = SetUp(Upsample(3), [x]);
        layer.Forward([x], tops);
        Assert.That(tops[0].Shape, Is.EqualTo(new[] { 1, 1, 6, 6 }));
        for (int h = 0; h < 6; h++)
            for (int w = 0; w < 6; w++)
                Assert.That(tops[0].Data[h * 6 + w], Is.EqualTo(x.Data[h / 3 * 2 + w / 3]));
        var (defaulted, t2) = SetUp(new LayerParameter { Name = "up", Type = "Upsample" }, [x]);
        Assert.That(t2[0].Shape, Is.EqualTo(new[] { 1, 1, 4, 4 }));
    }

    [Test]
    public void UpsampleGradient()
    {
        var x = TestData.Random("x", [2, 2, 3, 2]);
        var (layer, tops) = SetUp(Upsample(2), [x]);
        new GradientChecker().Check(layer, [x], tops);
    }

    [Test]
    public void UpsampleUnpoolsToTheMaxPoolingMask()
    {
        var input = Distinct("in", [2, 2, 6, 4]);
        var pooled = new Blob("pooled");
        var mask = new Blob("mask");
        var pool = LayerRegistry.Create(new LayerParameter
        {
            Name = "pool",
            Type = "Pooling",
            PoolingParam = new PoolingParameter { Pool = PoolingParameter.Types.PoolMethod.Max, KernelSize = 2, Stride = 2 },
        });
        pool.SetUp([input], [pooled, mask]);
        pool.Forward([input], [pooled, mask]);

        var (layer, tops) = SetUp(Upsample(2), [pooled, mask], tops: 1);
        layer.Forward([pooled, mask], tops);
        var top = tops[0];
        Assert.That(top.Shape, Is.EqualTo(input.Shape));
        // Each maximum is back where it came from; everything else is 0.
        for (int i = 0; i < top.Count; i++)
            Assert.That(top.Data[i], Is.EqualTo(0f).Or.EqualTo(input.Data[i]));
        int nonzero = 0;
        foreach (var v in top.Data) if (v != 0) nonzero++;
        Assert.That(nonzero, Is.EqualTo(pooled.Count));
        Assert.That(layer.CanBackward(1), Is.False);
        new GradientChecker().Check(layer, [pooled, mask], tops, checkBottoms: [0]);
    }

    [Test]
    public void UpsampleMaskOutOfRangeIsAnError()
    {
        var x = TestData.FromValues("x", [1, 1, 1, 1], 5);
        var m = TestData.FromValues("m", [1, 1, 1, 1], 4);
        var (layer, tops) = SetUp(Upsample(2), [x, m], tops: 1);
        Assert.That(Assert.Throws<EngineException>(() => layer.Forward([x, m], tops))!.Message, Does.Contain("mask"));
    }
}
