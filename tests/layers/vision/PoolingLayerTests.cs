using Engine.Core;
using Engine.Layers;
using Engine.Proto;
using Engine.Tests.Support;
using NUnit.Framework;
using static Engine.Tests.Support.VisionTestHelpers;
using PoolMethod = Engine.Proto.PoolingParameter.Types.PoolMethod;
using RoundMode = Engine.Proto.PoolingParameter.Types.RoundMode;

namespace Engine.Tests.Layers.Vision;

[TestFixture]
public class PoolingLayerTests
{
    private static LayerParameter Pool(PoolingParameter p, string name = "pool") =>
        new() { Name = name, Type = "Pooling", PoolingParam = p };

    /// <summary>A blob of <paramref name="num"/>×<paramref name="channels"/> copies of one plane.</summary>
    private static Blob Planes(int num, int channels, int h, int w, float[] plane)
    {
        var b = new Blob("data", num, channels, h, w);
        for (int i = 0; i < num * channels; i++) plane.CopyTo(b.Data.Slice(i * h * w, h * w));
        return b;
    }

    private static void AssertPlanes(Blob top, float[] expected, string what)
    {
        int plane = top.Dim(2) * top.Dim(3);
        for (int i = 0; i < top.Dim(0) * top.Dim(1); i++)
            AssertClose(top.Data.Slice(i * plane, plane), expected, $"{what} plane {i}", 1e-6);
    }

    // ---- shapes ----------------------------------------------------------------------------

    [Test]
    public void RegistryCreatesPooling() =>
        Assert.That(LayerRegistry.Create(Pool(new PoolingParameter { KernelSize = 2 })), Is.InstanceOf<PoolingLayer>());

    [TestCase(3u, 2u, 0u, false, 3, 2)]
    [TestCase(3u, 2u, 1u, false, 4, 3)]
    [TestCase(0u, 1u, 0u, true, 1, 1)]
    public void OutputShapesFollowCaffe(uint kernel, uint stride, uint pad, bool global, int outH, int outW)
    {
        var p = new PoolingParameter { Stride = stride, Pad = pad, GlobalPooling = global };
        if (!global) p.KernelSize = kernel;
        var (_, tops) = SetUp(Pool(p), [TestData.Random("data", [2, 3, 6, 5])]);
        Assert.That(tops[0].Shape, Is.EqualTo(new[] { 2, 3, outH, outW }));
    }

    [Test]
    public void PrototextForm()
    {
        var (layer, tops) = SetUp(TestData.Layer("""
            name: "pool1" type: "Pooling" pooling_param { pool: AVE kernel_h: 3 kernel_w: 2 stride: 2 pad_h: 1 pad_w: 0 round_mode: FLOOR }
            """), [TestData.Random("data", [1, 1, 8, 7])]);
        Assert.That(layer, Is.InstanceOf<PoolingLayer>());
        // floor((8 + 2 − 3) / 2) + 1 = 4; floor((7 − 2) / 2) + 1 = 3.
        Assert.That(tops[0].Shape, Is.EqualTo(new[] { 1, 1, 4, 3 }));
    }

    [Test]
    public void FloorRoundingAndPaddedLastWindowRule()
    {
        // 7 wide, kernel 2, stride 2: ceil((7 − 2) / 2) + 1 = 4; floor gives 3.
        var b = TestData.Random("data", [1, 1, 7, 7]);
        var (_, ceil) = SetUp(Pool(new PoolingParameter { KernelSize = 2, Stride = 2 }), [b]);
        Assert.That(ceil[0].Shape, Is.EqualTo(new[] { 1, 1, 4, 4 }));
        var (_, floor) = SetUp(Pool(new PoolingParameter { KernelSize = 2, Stride = 2, RoundMode = RoundMode.Floor }), [b]);
        Assert.That(floor[0].Shape, Is.EqualTo(new[] { 1, 1, 3, 3 }));
        // 5 wide, kernel 2, stride 2, pad 1: ceil(5 / 2) + 1 = 4, but the 4th window would start at
        // 6 ≥ 5 + 1, so it is dropped.
        var (_, padded) = SetUp(Pool(new PoolingParameter { KernelSize = 2, Stride = 2, Pad = 1 }), [TestData.Random("d", [1, 1, 5, 5])]);
        Assert.That(padded[0].Shape, Is.EqualTo(new[] { 1, 1, 3, 3 }));
    }

    // ---- Caffe's hand-computed cases -------------------------------------------------------

    [Test]
    public void MaxKernel2Stride1WithMask()
    {
        var bottom = Planes(2, 2, 3, 5, [1, 2, 5, 2, 3, 9, 4, 1, 4, 8, 1, 2, 5, 2, 3]);
        var (layer, tops) = SetUp(Pool(new PoolingParameter { KernelSize = 2, Stride = 1 }), [bottom], tops: 2);
        layer.Forward([bottom], tops);
        Assert.That(tops[0].Shape, Is.EqualTo(new[] { 2, 2, 2, 4 }));
        AssertPlanes(tops[0], [9, 5, 5, 8, 9, 5, 5, 8], "max");
        AssertPlanes(tops[1], [5, 2, 2, 9, 5, 12, 12, 9], "mask");
    }

    private static readonly float[] Magic =
    [
        35, 1, 6, 26, 19, 24,
        3, 32, 7, 21, 23, 25,
        31, 9, 2, 22, 27, 20,
        8, 28, 33, 17, 10, 15,
        30, 5, 34, 12, 14, 16,
        4, 36, 29, 13, 18, 11,
    ];

    [TestCase(3u, 2u, 4, 5, new float[] { 35, 32, 26, 27, 27, 32, 33, 33, 27, 27, 31, 34, 34, 27, 27, 36, 36, 34, 18, 18 })]
    [TestCase(2u, 3u, 5, 4, new float[] { 35, 32, 26, 26, 32, 32, 27, 27, 33, 33, 33, 27, 34, 34, 34, 17, 36, 36, 34, 18 })]
    public void MaxRectangularOnMagicSquare(uint kh, uint kw, int outH, int outW, float[] expected)
    {
        var bottom = Planes(2, 2, 6, 6, Magic);
        var (layer, tops) = SetUp(Pool(new PoolingParameter { KernelH = kh, KernelW = kw, Stride = 1 }), [bottom], tops: 2);
        layer.Forward([bottom], tops);
        Assert.That(tops[0].Shape, Is.EqualTo(new[] { 2, 2, outH, outW }));
        AssertPlanes(tops[0], expected, "max");
        // The square's values are distinct, so each mask entry is where the expected value sits.
        AssertPlanes(tops[1], expected.Select(v => (float)Array.IndexOf(Magic, v)).ToArray(), "mask");
    }

    [Test]
    public void MaxPaddedKernel3Stride2()
    {
        var bottom = Planes(1, 2, 3, 3, [1, 2, 4, 2, 3, 2, 4, 2, 1]);
        var (layer, tops) = SetUp(Pool(new PoolingParameter { KernelSize = 3, Stride = 2, Pad = 2 }), [bottom]);
        layer.Forward([bottom], tops);
        Assert.That(tops[0].Shape, Is.EqualTo(new[] { 1, 2, 3, 3 }));
        AssertPlanes(tops[0], [1, 4, 4, 4, 4, 4, 4, 4, 1], "padded max");
    }

    [Test]
    public void AvePaddingCountsInTheDivisor()
    {
        var bottom = Planes(1, 1, 3, 3, [2, 2, 2, 2, 2, 2, 2, 2, 2]);
        var (layer, tops) = SetUp(Pool(new PoolingParameter { Pool = PoolMethod.Ave, KernelSize = 3, Stride = 1, Pad = 1 }), [bottom]);
        layer.Forward([bottom], tops);
        Assert.That(tops[0].Shape, Is.EqualTo(new[] { 1, 1, 3, 3 }));
        AssertPlanes(tops[0], [8f / 9, 4f / 3, 8f / 9, 4f / 3, 2, 4f / 3, 8f / 9, 4f / 3, 8f / 9], "ave");
    }

    [Test]
    public void GlobalPoolingTakesWholePlane()
    {
        var bottom = TestData.Random("data", [2, 3, 4, 5]);
        var (max, maxTop) = SetUp(Pool(new PoolingParameter { GlobalPooling = true }), [bottom]);
        var (ave, aveTop) = SetUp(Pool(new PoolingParameter { GlobalPooling = true, Pool = PoolMethod.Ave }), [bottom]);
        max.Forward([bottom], maxTop);
        ave.Forward([bottom], aveTop);
        for (int i = 0; i < 6; i++)
        {
            var plane = bottom.Data.Slice(i * 20, 20).ToArray();
            Assert.That(maxTop[0].Data[i], Is.EqualTo(plane.Max()));
            Assert.That(aveTop[0].Data[i], Is.EqualTo(plane.Average()).Within(1e-6));
        }
        // Global pooling follows the input size on reshape.
        bottom.Reshape(1, 3, 7, 2);
        max.Reshape([bottom], maxTop);
        Assert.That(maxTop[0].Shape, Is.EqualTo(new[] { 1, 3, 1, 1 }));
    }

    // ---- PyTorch fixtures ------------------------------------------------------------------

    private static void CheckFixture(string c, PoolingParameter p) =>
        CheckFixtureCase(Pool(p, c), c, tops: p.Pool == PoolMethod.Max ? 2 : 1);

    [Test]
    public void MatchesPyTorchMax() => CheckFixture("max_k3s2p1", new PoolingParameter { KernelSize = 3, Stride = 2, Pad = 1 });

    [Test]
    public void MatchesPyTorchMaxTrimmedLastWindow() => CheckFixture("max_k2s2p1", new PoolingParameter { KernelSize = 2, Stride = 2, Pad = 1 });

    [Test]
    public void MatchesPyTorchMaxRectangular() =>
        CheckFixture("max_rect", new PoolingParameter { KernelH = 2, KernelW = 3, StrideH = 2, StrideW = 1, PadH = 1, PadW = 1 });

    [Test]
    public void MatchesPyTorchAve() =>
        CheckFixture("ave_k3s2p1", new PoolingParameter { Pool = PoolMethod.Ave, KernelSize = 3, Stride = 2, Pad = 1 });

    [Test]
    public void MatchesPyTorchAveRectangular() =>
        CheckFixture("ave_rect", new PoolingParameter { Pool = PoolMethod.Ave, KernelH = 3, KernelW = 2, StrideH = 2, StrideW = 1, PadH = 1, PadW = 0 });

    [Test]
    public void MatchesPyTorchAveTrimmedLastWindow() =>
        CheckFixture("ave_k2s2p1", new PoolingParameter { Pool = PoolMethod.Ave, KernelSize = 2, Stride = 2, Pad = 1 });

    // ---- gradient checks -------------------------------------------------------------------

    private static void GradientCheck(PoolingParameter p, int[] shape)
    {
        // Distinct, well separated values: max pooling has no ties within the step.
        CheckGradient(Pool(p), Distinct("data", shape));
    }

    [Test]
    public void GradientMax() => GradientCheck(new PoolingParameter { KernelSize = 3, Stride = 2 }, [2, 2, 6, 5]);

    [Test]
    public void GradientMaxPadded() => GradientCheck(new PoolingParameter { KernelSize = 3, Stride = 2, Pad = 1 }, [2, 2, 6, 5]);

    [Test]
    public void GradientMaxRectangular() => GradientCheck(new PoolingParameter { KernelH = 3, KernelW = 2, StrideH = 1, StrideW = 2, PadH = 1, PadW = 1 }, [2, 2, 5, 5]);

    [Test]
    public void GradientMaxGlobal() => GradientCheck(new PoolingParameter { GlobalPooling = true }, [2, 3, 4, 3]);

    [Test]
    public void GradientAve() => GradientCheck(new PoolingParameter { Pool = PoolMethod.Ave, KernelSize = 3, Stride = 2 }, [2, 2, 6, 5]);

    [Test]
    public void GradientAvePadded() => GradientCheck(new PoolingParameter { Pool = PoolMethod.Ave, KernelSize = 3, Stride = 2, Pad = 1 }, [2, 2, 6, 5]);

    [Test]
    public void GradientAveRectangular() => GradientCheck(new PoolingParameter { Pool = PoolMethod.Ave, KernelH = 2, KernelW = 3, StrideH = 2, StrideW = 1, PadH = 1, PadW = 1 }, [2, 2, 5, 5]);

    [Test]
    public void GradientAveGlobal() => GradientCheck(new PoolingParameter { Pool = PoolMethod.Ave, GlobalPooling = true }, [2, 3, 4, 3]);

    [Test]
    public void GradientAveFloor() => GradientCheck(new PoolingParameter { Pool = PoolMethod.Ave, KernelSize = 2, Stride = 2, RoundMode = RoundMode.Floor }, [1, 2, 5, 5]);

    // ---- errors ----------------------------------------------------------------------------

    private static EngineException SetUpError(PoolingParameter? p, int tops = 1, int[]? shape = null)
    {
        var param = new LayerParameter { Name = "bad_pool", Type = "Pooling" };
        if (p != null) param.PoolingParam = p;
        var e = Assert.Throws<EngineException>(() => SetUp(param, [new Blob("data", shape ?? [1, 1, 5, 5])], tops))!;
        Assert.That(e.Message, Does.Contain("\"bad_pool\""));
        return e;
    }

    [Test]
    public void PadNotSmallerThanKernelIsAnError() =>
        Assert.That(SetUpError(new PoolingParameter { KernelSize = 2, Pad = 2 }).Message, Does.Contain("pad"));

    [Test]
    public void GlobalPoolingWithKernelIsAnError()
    {
        Assert.That(SetUpError(new PoolingParameter { GlobalPooling = true, KernelSize = 2 }).Message, Does.Contain("global_pooling"));
        Assert.That(SetUpError(new PoolingParameter { GlobalPooling = true, Stride = 2 }).Message, Does.Contain("stride"));
    }

    [Test]
    public void StochasticHasNoMaskTop() =>
        Assert.That(SetUpError(new PoolingParameter { Pool = PoolMethod.Stochastic, KernelSize = 2 }, tops: 2).Message, Does.Contain("at most 1 top"));

    [Test]
    public void MissingOrHalfKernelIsAnError()
    {
        Assert.That(SetUpError(new PoolingParameter()).Message, Does.Contain("kernel_size"));
        Assert.That(SetUpError(null).Message, Does.Contain("kernel"));
        Assert.That(SetUpError(new PoolingParameter { KernelH = 2 }).Message, Does.Contain("kernel_w"));
        Assert.That(SetUpError(new PoolingParameter { KernelSize = 2, KernelH = 2, KernelW = 2 }).Message, Does.Contain("not both"));
    }

    [Test]
    public void MaskTopOnlyForMax() =>
        Assert.That(SetUpError(new PoolingParameter { Pool = PoolMethod.Ave, KernelSize = 2 }, tops: 2).Message, Does.Contain("at most 1 top"));

    [Test]
    public void KernelLargerThanPaddedInputIsAnError() =>
        Assert.That(SetUpError(new PoolingParameter { KernelSize = 4 }, shape: [1, 1, 3, 8]).Message, Does.Contain("larger"));

    [Test]
    public void NonImageInputIsAnError() =>
        Assert.That(SetUpError(new PoolingParameter { KernelSize = 2 }, shape: [4, 5]).Message, Does.Contain("4-D"));
}
