using Engine.Core;
using Engine.Cpu;
using Engine.Layers;
using Engine.Proto;
using Engine.Tests.Support;
using NUnit.Framework;
using static Engine.Tests.Support.VisionTestHelpers;

namespace Engine.Tests.Layers.Vision;

[TestFixture]
public class ConvolutionLayerTests
{
    private static LayerParameter Conv(ConvolutionParameter p, string name = "conv") =>
        new() { Name = name, Type = "Convolution", ConvolutionParam = p };

    private static ConvolutionParameter Filled(ConvolutionParameter p)
    {
        p.WeightFiller = Uniform();
        p.BiasFiller = Uniform();
        return p;
    }

    // ---- shapes and set-up ------------------------------------------------------------------

    [Test]
    public void RegistryCreatesConvolution()
    {
        var layer = LayerRegistry.Create(Conv(new ConvolutionParameter { NumOutput = 4, KernelSize = { 3 } }));
        Assert.That(layer, Is.InstanceOf<ConvolutionLayer>());
    }

    [Test]
    public void OutputShapeAndBlobsFollowCaffe()
    {
        var b0 = TestData.Random("b0", [2, 3, 6, 4]);
        var b1 = TestData.Random("b1", [2, 3, 6, 4], seed: 2);
        var (layer, tops) = SetUp(Conv(new ConvolutionParameter { NumOutput = 4, KernelSize = { 3 }, Stride = { 2 } }), [b0, b1]);
        Assert.That(tops[0].Shape, Is.EqualTo(new[] { 2, 4, 2, 1 }));
        Assert.That(tops[1].Shape, Is.EqualTo(new[] { 2, 4, 2, 1 }));
        Assert.That(layer.Blobs[0].Shape, Is.EqualTo(new[] { 4, 3, 3, 3 }));
        Assert.That(layer.Blobs[1].Shape, Is.EqualTo(new[] { 4 }));
        // Caffe's default fillers are constant 0.
        Assert.That(layer.Blobs[0].Data.ToArray(), Is.All.EqualTo(0f));

        var (grouped, gtops) = SetUp(Conv(new ConvolutionParameter { NumOutput = 3, KernelSize = { 3 }, Stride = { 2 }, Group = 3 }), [b0]);
        Assert.That(gtops[0].Shape, Is.EqualTo(new[] { 2, 3, 2, 1 }));
        Assert.That(grouped.Blobs[0].Shape, Is.EqualTo(new[] { 3, 1, 3, 3 }));
    }

    [Test]
    public void PrototextFormsGiveTheSameGeometry()
    {
        var b = TestData.Random("data", [1, 2, 9, 8]);
        var (repeated, t1) = SetUp(TestData.Layer("""
            name: "c" type: "Convolution"
            convolution_param { num_output: 3 kernel_size: 3 kernel_size: 2 stride: 2 stride: 1 pad: 1 pad: 0
                                dilation: 2 weight_filler { type: "xavier" } bias_filler { type: "constant" value: 0.5 } }
            """), [b]);
        var (perAxis, t2) = SetUp(TestData.Layer("""
            name: "c" type: "Convolution"
            convolution_param { num_output: 3 kernel_h: 3 kernel_w: 2 stride_h: 2 stride_w: 1 pad_h: 1 pad_w: 0
                                dilation: 2 dilation: 2 weight_filler { type: "xavier" } bias_filler { type: "constant" value: 0.5 } }
            """), [b]);
        // (9 + 2 − 5) / 2 + 1 = 4, (8 − 3) / 1 + 1 = 6.
        Assert.That(t1[0].Shape, Is.EqualTo(new[] { 1, 3, 4, 6 }));
        Assert.That(t2[0].Shape, Is.EqualTo(new[] { 1, 3, 4, 6 }));
        Assert.That(repeated.Blobs[0].Data.ToArray(), Is.EqualTo(perAxis.Blobs[0].Data.ToArray()));
        Assert.That(repeated.Blobs[1].Data.ToArray(), Is.All.EqualTo(0.5f));
        repeated.Forward([b], t1);
        perAxis.Forward([b], t2);
        Assert.That(t1[0].Data.ToArray(), Is.EqualTo(t2[0].Data.ToArray()));
    }

    [Test]
    public void OutputSizeUsesDilatedExtent()
    {
        var b = TestData.Random("b", [1, 2, 10, 11]);
        var (_, tops) = SetUp(Conv(new ConvolutionParameter { NumOutput = 2, KernelSize = { 3 }, Stride = { 2 }, Dilation = { 3 }, BiasTerm = false }), [b]);
        // floor((10 − 7) / 2) + 1 = 2, floor((11 − 7) / 2) + 1 = 3.
        Assert.That(tops[0].Shape, Is.EqualTo(new[] { 1, 2, 2, 3 }));
    }

    [Test]
    public void ReshapeFollowsTheBottom()
    {
        var b = TestData.Random("b", [2, 3, 6, 4]);
        var (layer, tops) = SetUp(Conv(Filled(new ConvolutionParameter { NumOutput = 2, KernelSize = { 3 }, Pad = { 1 } })), [b]);
        b.Reshape(3, 3, 9, 7);
        TestData.Random("r", [3, 3, 9, 7]).Data.CopyTo(b.Data);
        layer.Reshape([b], tops);
        Assert.That(tops[0].Shape, Is.EqualTo(new[] { 3, 2, 9, 7 }));
        layer.Forward([b], tops);
        Assert.That(tops[0].Data.ToArray(), Has.None.NaN);
    }

    // ---- forward values ------------------------------------------------------------------

    [Test]
    public void SobelIsSeparable()
    {
        // A 3×3 Sobel filter on every channel equals a 3×1 [1 2 1] then a 1×3 [−1 0 1] filter.
        var bottom = TestData.Random("data", [2, 3, 6, 4], seed: 5);
        var (full, fullTop) = SetUp(Conv(new ConvolutionParameter { NumOutput = 1, KernelSize = { 3 }, Stride = { 2 }, BiasTerm = false }, "sobel"), [bottom]);
        float[] sobel = [-1, 0, 1, -2, 0, 2, -1, 0, 1];
        var w = full.Blobs[0].Data;
        for (int c = 0; c < 3; c++) sobel.CopyTo(w.Slice(c * 9, 9));
        full.Forward([bottom], fullTop);

        var (vertical, mid) = SetUp(Conv(new ConvolutionParameter
        {
            NumOutput = 1,
            KernelH = 3,
            KernelW = 1,
            StrideH = 2,
            StrideW = 1,
            BiasTerm = false,
        }, "vertical"), [bottom]);
        var wv = vertical.Blobs[0].Data;
        for (int c = 0; c < 3; c++) new float[] { 1, 2, 1 }.CopyTo(wv.Slice(c * 3, 3));
        vertical.Forward([bottom], mid);
        Assert.That(mid[0].Shape, Is.EqualTo(new[] { 2, 1, 2, 4 }));

        var (horizontal, sepTop) = SetUp(Conv(new ConvolutionParameter
        {
            NumOutput = 1,
            KernelH = 1,
            KernelW = 3,
            StrideH = 1,
            StrideW = 2,
            BiasTerm = false,
        }, "horizontal"), [mid[0]]);
        new float[] { -1, 0, 1 }.CopyTo(horizontal.Blobs[0].Data);
        horizontal.Forward([mid[0]], sepTop);

        Assert.That(sepTop[0].Shape, Is.EqualTo(fullTop[0].Shape));
        AssertClose(sepTop[0].Data, fullTop[0].Data, "separable Sobel", 1e-5);
    }

    [Test]
    public void ForwardMatchesDirectSum()
    {
        // Independent check of im2col + GEMM: the convolution sum written out, with groups, pad,
        // stride, dilation and bias.
        var bottom = TestData.Random("data", [2, 4, 7, 6], seed: 9);
        var p = Filled(new ConvolutionParameter { NumOutput = 6, KernelH = 3, KernelW = 2, StrideH = 2, StrideW = 1, PadH = 1, PadW = 2, Dilation = { 2, 1 }, Group = 2 });
        var (layer, tops) = SetUp(Conv(p), [bottom]);
        layer.Forward([bottom], tops);
        var top = tops[0];
        var w = layer.Blobs[0].Data;
        var bias = layer.Blobs[1].Data;
        int outH = top.Dim(2), outW = top.Dim(3), cg = 2, og = 3;
        var expected = new float[top.Count];
        for (int n = 0; n < 2; n++)
            for (int o = 0; o < 6; o++)
                for (int y = 0; y < outH; y++)
                    for (int x = 0; x < outW; x++)
                    {
                        double s = bias[o];
                        int g = o / og;
                        for (int c = 0; c < cg; c++)
                            for (int kh = 0; kh < 3; kh++)
                                for (int kw = 0; kw < 2; kw++)
                                {
                                    int h = y * 2 - 1 + kh * 2, ww = x - 2 + kw;
                                    if (h < 0 || h >= 7 || ww < 0 || ww >= 6) continue;
                                    s += w[((o * cg + c) * 3 + kh) * 2 + kw] * bottom.Data[((n * 4 + g * cg + c) * 7 + h) * 6 + ww];
                                }
                        expected[((n * 6 + o) * outH + y) * outW + x] = (float)s;
                    }
        AssertClose(top.Data, expected, "direct convolution", 1e-5);
    }

    // ---- PyTorch fixtures ----------------------------------------------------------------

    private static void CheckFixture(string c, ConvolutionParameter p) => CheckFixtureCase(Conv(p, c), c);

    [Test]
    public void MatchesPyTorchStridePad() =>
        CheckFixture("conv_k3s2p1", new ConvolutionParameter { NumOutput = 4, KernelSize = { 3 }, Stride = { 2 }, Pad = { 1 } });

    [Test]
    public void MatchesPyTorchRectangularDilatedGrouped() =>
        CheckFixture("conv_rect_dil_group", new ConvolutionParameter
        {
            NumOutput = 6,
            KernelSize = { 3, 2 },
            Stride = { 1, 2 },
            Pad = { 2, 0 },
            Dilation = { 2, 1 },
            Group = 2,
            BiasTerm = false,
        });

    [Test]
    public void MatchesPyTorch1x1Grouped() =>
        CheckFixture("conv_1x1_group", new ConvolutionParameter { NumOutput = 4, KernelSize = { 1 }, Group = 2 });

    // ---- backward semantics --------------------------------------------------------------

    [Test]
    public void ParameterGradientsAccumulateAndBottomGradientIsOverwritten()
    {
        var bottom = TestData.Random("data", [5, 3, 5, 4], seed: 3);
        var (layer, tops) = SetUp(Conv(Filled(new ConvolutionParameter { NumOutput = 3, KernelSize = { 3 }, Pad = { 1 } })), [bottom]);
        layer.Forward([bottom], tops);
        TestData.Random("dy", [.. tops[0].Shape], seed: 4).Data.CopyTo(tops[0].Diff);
        Backward(layer, [bottom], tops);
        var dw = layer.Blobs[0].Diff.ToArray();
        var db = layer.Blobs[1].Diff.ToArray();
        var dx = bottom.Diff.ToArray();
        layer.Backward(tops, [true], [bottom]);
        AssertClose(layer.Blobs[0].Diff, dw.Select(v => 2 * v).ToArray(), "dw twice", 1e-5);
        AssertClose(layer.Blobs[1].Diff, db.Select(v => 2 * v).ToArray(), "db twice", 1e-5);
        Assert.That(bottom.Diff.ToArray(), Is.EqualTo(dx));
    }

    [Test]
    public void SharedWeightsOverSeveralBottomsSumTheirGradients()
    {
        var b0 = TestData.Random("b0", [3, 2, 5, 5], seed: 1);
        var b1 = TestData.Random("b1", [3, 2, 5, 5], seed: 2);
        var p = Filled(new ConvolutionParameter { NumOutput = 2, KernelSize = { 3 }, Stride = { 2 } });
        var (both, tops) = SetUp(Conv(p), [b0, b1]);
        both.Forward([b0, b1], tops);
        TestData.Random("d0", [.. tops[0].Shape], seed: 3).Data.CopyTo(tops[0].Diff);
        TestData.Random("d1", [.. tops[1].Shape], seed: 4).Data.CopyTo(tops[1].Diff);
        Backward(both, [b0, b1], tops);

        var sum = new float[both.Blobs[0].Count];
        var sumBias = new float[both.Blobs[1].Count];
        for (int i = 0; i < 2; i++)
        {
            var b = i == 0 ? b0 : b1;
            var (one, oneTop) = SetUp(Conv(p), [b]);
            one.Forward([b], oneTop);
            AssertClose(oneTop[0].Data, tops[i].Data, $"top {i}", 1e-6);
            tops[i].Diff.CopyTo(oneTop[0].Diff);
            Backward(one, [b], oneTop);
            for (int k = 0; k < sum.Length; k++) sum[k] += one.Blobs[0].Diff[k];
            for (int k = 0; k < sumBias.Length; k++) sumBias[k] += one.Blobs[1].Diff[k];
        }
        AssertClose(both.Blobs[0].Diff, sum, "shared dw", 1e-5);
        AssertClose(both.Blobs[1].Diff, sumBias, "shared db", 1e-5);
    }

    [Test]
    public void LargeBatchGradientIsTheSumOverImages()
    {
        // 19 images: more than one image per gradient chunk.
        var bottom = TestData.Random("data", [19, 2, 4, 4], seed: 6);
        var p = Filled(new ConvolutionParameter { NumOutput = 3, KernelSize = { 3 }, Pad = { 1 }, Stride = { 2 } });
        var (layer, tops) = SetUp(Conv(p), [bottom]);
        layer.Forward([bottom], tops);
        TestData.Random("dy", [.. tops[0].Shape], seed: 7).Data.CopyTo(tops[0].Diff);
        Backward(layer, [bottom], tops);

        var sum = new double[layer.Blobs[0].Count];
        var sumBias = new double[layer.Blobs[1].Count];
        int image = 2 * 4 * 4, outImage = (int)(tops[0].Count / 19);
        for (int n = 0; n < 19; n++)
        {
            var one = new Blob("one", 1, 2, 4, 4);
            bottom.Data.Slice(n * image, image).CopyTo(one.Data);
            var (single, st) = SetUp(Conv(p), [one]);
            single.Forward([one], st);
            AssertClose(st[0].Data, tops[0].Data.Slice(n * outImage, outImage), $"image {n} forward", 1e-6);
            tops[0].Diff.Slice(n * outImage, outImage).CopyTo(st[0].Diff);
            Backward(single, [one], st);
            AssertClose(one.Diff, bottom.Diff.Slice(n * image, image), $"image {n} dx", 1e-6);
            for (int k = 0; k < sum.Length; k++) sum[k] += single.Blobs[0].Diff[k];
            for (int k = 0; k < sumBias.Length; k++) sumBias[k] += single.Blobs[1].Diff[k];
        }
        AssertClose(layer.Blobs[0].Diff, sum.Select(v => (float)v).ToArray(), "batch dw", 1e-5);
        AssertClose(layer.Blobs[1].Diff, sumBias.Select(v => (float)v).ToArray(), "batch db", 1e-5);
    }

    [Test]
    public void GradientsDoNotDependOnThreadCount()
    {
        int saved = WorkerPool.Threads;
        try
        {
            float[]? dw0 = null, db0 = null, dx0 = null;
            foreach (int threads in new[] { 1, 2, 3, 8 })
            {
                WorkerPool.Threads = threads;
                var bottom = TestData.Random("data", [7, 3, 6, 5], seed: 8);
                var (layer, tops) = SetUp(Conv(Filled(new ConvolutionParameter { NumOutput = 4, KernelSize = { 3 }, Pad = { 1 } })), [bottom]);
                layer.Forward([bottom], tops);
                TestData.Random("dy", [.. tops[0].Shape], seed: 9).Data.CopyTo(tops[0].Diff);
                Backward(layer, [bottom], tops);
                if (dw0 == null)
                {
                    dw0 = layer.Blobs[0].Diff.ToArray();
                    db0 = layer.Blobs[1].Diff.ToArray();
                    dx0 = bottom.Diff.ToArray();
                    continue;
                }
                Assert.That(layer.Blobs[0].Diff.ToArray(), Is.EqualTo(dw0), $"dw with {threads} threads");
                Assert.That(layer.Blobs[1].Diff.ToArray(), Is.EqualTo(db0), $"db with {threads} threads");
                Assert.That(bottom.Diff.ToArray(), Is.EqualTo(dx0), $"dx with {threads} threads");
            }
        }
        finally
        {
            WorkerPool.Threads = saved;
        }
    }

    [Test]
    public void FrozenParametersGetNoGradient()
    {
        var bottom = TestData.Random("data", [2, 2, 4, 4]);
        var (layer, tops) = SetUp(Conv(Filled(new ConvolutionParameter { NumOutput = 2, KernelSize = { 3 } })), [bottom]);
        layer.ParamPropagateDown = [false, false];
        layer.Forward([bottom], tops);
        tops[0].Diff.Fill(1f);
        Backward(layer, [bottom], tops);
        Assert.That(layer.Blobs[0].Diff.ToArray(), Is.All.EqualTo(0f));
        Assert.That(layer.Blobs[1].Diff.ToArray(), Is.All.EqualTo(0f));
        Assert.That(bottom.Diff.ToArray(), Has.Some.Not.EqualTo(0f));
    }

    // ---- gradient checks ------------------------------------------------------------------

    private static void GradientCheck(ConvolutionParameter p, int[] shape, int bottoms = 1)
    {
        var b = Enumerable.Range(0, bottoms).Select(i => TestData.Random($"b{i}", shape, seed: (ulong)(11 + i))).ToArray();
        CheckGradient(Conv(Filled(p)), b);
    }

    [Test]
    public void GradientStridePad() =>
        GradientCheck(new ConvolutionParameter { NumOutput = 3, KernelSize = { 3 }, Stride = { 2 }, Pad = { 1 } }, [2, 3, 5, 4]);

    [Test]
    public void GradientDilation() =>
        GradientCheck(new ConvolutionParameter { NumOutput = 2, KernelSize = { 3 }, Dilation = { 2 }, Pad = { 2 } }, [2, 2, 5, 5]);

    [Test]
    public void GradientGroups() =>
        GradientCheck(new ConvolutionParameter { NumOutput = 4, KernelSize = { 2 }, Group = 2 }, [2, 4, 4, 3]);

    [Test]
    public void GradientNoBias() =>
        GradientCheck(new ConvolutionParameter { NumOutput = 2, KernelSize = { 3 }, BiasTerm = false }, [2, 2, 4, 4]);

    [Test]
    public void Gradient1x1() =>
        GradientCheck(new ConvolutionParameter { NumOutput = 4, KernelSize = { 1 }, Group = 2 }, [2, 4, 3, 3]);

    [Test]
    public void GradientRectangular() =>
        GradientCheck(new ConvolutionParameter { NumOutput = 2, KernelH = 3, KernelW = 2, StrideH = 2, StrideW = 1, PadH = 1, PadW = 0 }, [2, 2, 6, 4]);

    [Test]
    public void GradientTwoBottoms() =>
        GradientCheck(new ConvolutionParameter { NumOutput = 2, KernelSize = { 3 }, Stride = { 2 } }, [3, 2, 5, 4], bottoms: 2);

    // ---- errors ---------------------------------------------------------------------------

    private static EngineException SetUpError(ConvolutionParameter? p, int[] shape, string name = "bad_conv")
    {
        var param = new LayerParameter { Name = name, Type = "Convolution" };
        if (p != null) param.ConvolutionParam = p;
        var e = Assert.Throws<EngineException>(() => SetUp(param, [new Blob("data", shape)]))!;
        Assert.That(e.Message, Does.Contain($"\"{name}\""));
        return e;
    }

    [Test]
    public void MissingNumOutputIsAnError()
    {
        Assert.That(SetUpError(new ConvolutionParameter { KernelSize = { 3 } }, [1, 3, 5, 5]).Message, Does.Contain("num_output"));
        Assert.That(SetUpError(null, [1, 3, 5, 5]).Message, Does.Contain("num_output"));
    }

    [Test]
    public void ChannelsNotDivisibleByGroupIsAnError() =>
        Assert.That(SetUpError(new ConvolutionParameter { NumOutput = 4, KernelSize = { 3 }, Group = 2 }, [1, 3, 5, 5]).Message,
            Does.Contain("group").And.Contain("3"));

    [Test]
    public void KernelLargerThanPaddedInputIsAnError() =>
        Assert.That(SetUpError(new ConvolutionParameter { NumOutput = 1, KernelSize = { 5 }, Pad = { 1 } }, [1, 1, 2, 8]).Message,
            Does.Contain("does not fit"));

    [Test]
    public void AxisWithoutSpatialAxesIsAnError()
    {
        Assert.That(SetUpError(new ConvolutionParameter { NumOutput = 1, KernelSize = { 1 }, Axis = 4 }, [1, 1, 2, 8]).Message, Does.Contain("axis"));
        Assert.That(SetUpError(new ConvolutionParameter { NumOutput = 1, KernelSize = { 1 }, Axis = 3 }, [1, 1, 2, 8]).Message, Does.Contain("no spatial axis"));
    }

    [Test]
    public void KernelGivenTwoWaysIsAnError()
    {
        Assert.That(SetUpError(new ConvolutionParameter { NumOutput = 1, KernelSize = { 3 }, KernelH = 3, KernelW = 3 }, [1, 1, 5, 5]).Message,
            Does.Contain("kernel_size"));
        Assert.That(SetUpError(new ConvolutionParameter { NumOutput = 1, KernelH = 3 }, [1, 1, 5, 5]).Message, Does.Contain("kernel_w"));
        Assert.That(SetUpError(new ConvolutionParameter { NumOutput = 1 }, [1, 1, 5, 5]).Message, Does.Contain("kernel_size"));
        Assert.That(SetUpError(new ConvolutionParameter { NumOutput = 1, KernelSize = { 3, 3, 3 } }, [1, 1, 5, 5]).Message, Does.Contain("3 times"));
    }

    [Test]
    public void BottomsOfDifferentShapesAreAnError()
    {
        var param = Conv(new ConvolutionParameter { NumOutput = 1, KernelSize = { 1 } });
        var e = Assert.Throws<EngineException>(() => SetUp(param, [new Blob("a", 1, 1, 3, 3), new Blob("b", 1, 1, 3, 4)]))!;
        Assert.That(e.Message, Does.Contain("\"a\"").And.Contain("\"b\""));
    }
}
