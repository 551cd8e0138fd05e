using Engine.Core;
using Engine.Graph;
using Engine.Proto;
using Engine.Tests.Support;
using NUnit.Framework;
using static Engine.Tests.Support.VisionTestHelpers;

namespace Engine.Tests.Layers.Vision;

/// <summary>
/// Convolution, Deconvolution, InnerProduct and Im2col: device code against host code
/// (<see cref="DeviceLayerCheck"/>), on the CPU backend and the OpenCL device.
/// </summary>
[TestFixtureSource(typeof(DeviceLayerCheck), nameof(DeviceLayerCheck.BackendNames))]
public class ConvDeviceTests(string backend)
{
    private static LayerParameter Layer(string type, ConvolutionParameter p, string? name = null)
    {
        p.WeightFiller ??= Uniform();
        if (p.BiasTerm) p.BiasFiller ??= Uniform();
        return new() { Name = name ?? type.ToLowerInvariant(), Type = type, ConvolutionParam = p };
    }

    /// <summary>Only the listed parameter blobs get gradients (lr_mult 0 on the others).</summary>
    private static Action<Layer> Params(params bool[] on) => l => l.ParamPropagateDown = on;

    // ---- Convolution -------------------------------------------------------------------------

    [Test]
    public void ConvolutionOddSizes([Values] bool bias) =>
        DeviceLayerCheck.Compare(backend, Layer("Convolution", new() { NumOutput = 4, KernelSize = { 3 }, BiasTerm = bias }), [[2, 3, 7, 5]]);

    [Test]
    public void ConvolutionStrideAndPad() =>
        DeviceLayerCheck.Compare(backend, Layer("Convolution", new() { NumOutput = 5, KernelSize = { 3 }, Stride = { 2 }, Pad = { 1 } }), [[3, 2, 9, 8]]);

    [Test]
    public void ConvolutionRectangularWindow() =>
        DeviceLayerCheck.Compare(backend, Layer("Convolution", new()
        {
            NumOutput = 3, KernelH = 3, KernelW = 2, StrideH = 2, StrideW = 1, PadH = 1, PadW = 0,
        }), [[2, 2, 8, 7]]);

    [Test]
    public void ConvolutionDilation() =>
        DeviceLayerCheck.Compare(backend, Layer("Convolution", new() { NumOutput = 3, KernelSize = { 3 }, Dilation = { 2 }, Pad = { 1 } }), [[2, 3, 9, 10]]);

    [TestCase(2, 1, false)]
    [TestCase(2, 1, true)]
    [TestCase(3, 2, false)]
    public void ConvolutionGroups(int group, int stride, bool bias) =>
        DeviceLayerCheck.Compare(backend, Layer("Convolution", new()
        {
            NumOutput = (uint)(2 * group), KernelSize = { 3 }, Pad = { 1 }, Stride = { (uint)stride }, Group = (uint)group, BiasTerm = bias,
        }), [[2, 2 * group, 7, 6]]);

    [TestCase(1)]
    [TestCase(2)]
    public void Convolution1x1(int group) =>
        DeviceLayerCheck.Compare(backend, Layer("Convolution", new() { NumOutput = 6, KernelSize = { 1 }, Group = (uint)group }), [[3, 4, 5, 3]]);

    /// <summary>A 1×1 kernel with stride or pad is not its own column buffer: it goes through im2col.</summary>
    [Test]
    public void Convolution1x1StrideAndPad() =>
        DeviceLayerCheck.Compare(backend, Layer("Convolution", new() { NumOutput = 3, KernelSize = { 1 }, Stride = { 2 }, Pad = { 1 } }), [[2, 2, 5, 6]]);

    /// <summary>Two bottom/top pairs share the weights; their gradients add.</summary>
    [Test]
    public void ConvolutionTwoBottoms([Values] bool bias) =>
        DeviceLayerCheck.Compare(backend, Layer("Convolution", new() { NumOutput = 4, KernelSize = { 3 }, Pad = { 1 }, Group = 2, BiasTerm = bias }),
            [[2, 4, 5, 6], [2, 4, 5, 6]], new() { Tops = 2 });

    [Test]
    public void ConvolutionPropagateDownOff() =>
        DeviceLayerCheck.Compare(backend, Layer("Convolution", new() { NumOutput = 4, KernelSize = { 3 }, Pad = { 1 } }),
            [[2, 3, 6, 5], [2, 3, 6, 5]], new() { Tops = 2, PropagateDown = [false, true] });

    [TestCase(true, false)]
    [TestCase(false, true)]
    [TestCase(false, false)]
    public void ConvolutionParamGradientsOff(bool weight, bool bias) =>
        DeviceLayerCheck.Compare(backend, Layer("Convolution", new() { NumOutput = 4, KernelSize = { 2 }, Stride = { 2 } }),
            [[2, 3, 7, 7]], new() { AfterSetUp = Params(weight, bias) });

    /// <summary>Channel axis 2: the first two axes count images.</summary>
    [Test]
    public void ConvolutionChannelAxis2() =>
        DeviceLayerCheck.Compare(backend, Layer("Convolution", new() { NumOutput = 3, KernelSize = { 3 }, Pad = { 1 }, Axis = 2 }), [[2, 3, 2, 5, 4]]);

    /// <summary>LeNet's conv1 and conv2 shapes (dot products of 25 and 500 terms, weight gradients over 576 and 64 positions × 4 images).</summary>
    [TestCase(1, 28, 20)]
    [TestCase(20, 12, 50)]
    public void ConvolutionLeNet(int channels, int size, int output) =>
        DeviceLayerCheck.Compare(backend, Layer("Convolution", new() { NumOutput = (uint)output, KernelSize = { 5 } }), [[4, channels, size, size]]);

    /// <summary>AlexNet's conv2 pattern: 5×5, pad 2, group 2.</summary>
    [Test]
    public void ConvolutionAlexNetGrouped() =>
        DeviceLayerCheck.Compare(backend, Layer("Convolution", new() { NumOutput = 8, KernelSize = { 5 }, Pad = { 2 }, Group = 2 }), [[2, 6, 11, 11]]);

    // ---- Deconvolution -----------------------------------------------------------------------

    [Test]
    public void Deconvolution([Values] bool bias) =>
        DeviceLayerCheck.Compare(backend, Layer("Deconvolution", new() { NumOutput = 4, KernelSize = { 3 }, BiasTerm = bias }), [[2, 3, 5, 4]]);

    [Test]
    public void DeconvolutionStrideAndPad() =>
        DeviceLayerCheck.Compare(backend, Layer("Deconvolution", new() { NumOutput = 3, KernelSize = { 4 }, Stride = { 2 }, Pad = { 1 } }), [[2, 4, 5, 3]]);

    [Test]
    public void DeconvolutionGroupAndDilation() =>
        DeviceLayerCheck.Compare(backend, Layer("Deconvolution", new()
        {
            NumOutput = 4, KernelH = 3, KernelW = 2, StrideH = 2, StrideW = 3, Dilation = { 2 }, Group = 2,
        }), [[3, 4, 4, 3]]);

    [Test]
    public void Deconvolution1x1() =>
        DeviceLayerCheck.Compare(backend, Layer("Deconvolution", new() { NumOutput = 5, KernelSize = { 1 } }), [[2, 3, 4, 5]]);

    [Test]
    public void DeconvolutionTwoBottomsPropagateDownOff() =>
        DeviceLayerCheck.Compare(backend, Layer("Deconvolution", new() { NumOutput = 2, KernelSize = { 3 }, Stride = { 2 } }),
            [[2, 3, 4, 3], [2, 3, 4, 3]], new() { Tops = 2, PropagateDown = [true, false] });

    [TestCase(true, false)]
    [TestCase(false, true)]
    public void DeconvolutionParamGradientsOff(bool weight, bool bias) =>
        DeviceLayerCheck.Compare(backend, Layer("Deconvolution", new() { NumOutput = 3, KernelSize = { 2 }, Stride = { 2 } }),
            [[2, 2, 3, 4]], new() { AfterSetUp = Params(weight, bias) });

    // ---- InnerProduct ------------------------------------------------------------------------

    private static LayerParameter Ip(uint output, bool transpose, int axis, bool bias) => new()
    {
        Name = "ip", Type = "InnerProduct",
        InnerProductParam = new()
        {
            NumOutput = output, Transpose = transpose, Axis = axis, BiasTerm = bias,
            WeightFiller = Uniform(), BiasFiller = bias ? Uniform() : null,
        },
    };

    [Test]
    public void InnerProduct([Values] bool transpose, [Values(1, 2, -1)] int axis, [Values] bool bias) =>
        DeviceLayerCheck.Compare(backend, Ip(7, transpose, axis, bias), [[3, 4, 5, 2]]);

    [Test]
    public void InnerProductPropagateDownOff([Values] bool transpose) =>
        DeviceLayerCheck.Compare(backend, Ip(5, transpose, 1, true), [[4, 3, 3]], new() { PropagateDown = [false] });

    [TestCase(true, false)]
    [TestCase(false, true)]
    public void InnerProductParamGradientsOff(bool weight, bool bias) =>
        DeviceLayerCheck.Compare(backend, Ip(6, false, 1, true), [[5, 9]], new() { AfterSetUp = Params(weight, bias) });

    /// <summary>LeNet's ip1: 800 inputs, 500 outputs.</summary>
    [Test]
    public void InnerProductLeNet() =>
        DeviceLayerCheck.Compare(backend, Ip(500, false, 1, true), [[4, 50, 4, 4]]);

    // ---- Im2col ------------------------------------------------------------------------------

    private static LayerParameter Im2col(ConvolutionParameter p) => new() { Name = "im2col", Type = "Im2col", ConvolutionParam = p };

    [Test]
    public void Im2colLayer() =>
        DeviceLayerCheck.Compare(backend, Im2col(new() { KernelSize = { 3 }, Stride = { 2 }, Pad = { 1 } }), [[2, 3, 7, 6]]);

    [Test]
    public void Im2colDilationAndRectangle() =>
        DeviceLayerCheck.Compare(backend, Im2col(new() { KernelH = 2, KernelW = 3, Dilation = { 2 }, StrideH = 1, StrideW = 2 }), [[2, 2, 6, 9]]);

    [Test]
    public void Im2colChannelAxis2() =>
        DeviceLayerCheck.Compare(backend, Im2col(new() { KernelSize = { 2 }, Axis = 2 }), [[2, 2, 3, 4, 5]]);

    // ---- configurations left on the host ---------------------------------------------------

    [Test]
    public void NdConfigurationsStayOnTheHost()
    {
        _ = DeviceLayerCheck.Backend(backend);
        var conv = LayerRegistry.Create(Layer("Convolution", new() { NumOutput = 2, KernelSize = { 3 }, ForceNdIm2Col = true }));
        conv.SetUp([new Blob("b", 1, 2, 5, 5)], [new Blob("t")]);
        Assert.That(conv.RunsOnDevice, Is.False, "force_nd_im2col");
        var conv3d = LayerRegistry.Create(Layer("Convolution", new() { NumOutput = 2, KernelSize = { 2 } }));
        conv3d.SetUp([new Blob("b", 1, 2, 3, 4, 5)], [new Blob("t")]);
        Assert.That(conv3d.RunsOnDevice, Is.False, "three spatial axes");
        var im2col1d = LayerRegistry.Create(Im2col(new() { KernelSize = { 2 } }));
        im2col1d.SetUp([new Blob("b", 1, 2, 5)], [new Blob("t")]);
        Assert.That(im2col1d.RunsOnDevice, Is.False, "one spatial axis");
    }

    // ---- a net: layers in sequence share the device scratch; weights shared by name -----------

    /// <summary>
    /// conv (pad 1) → conv sharing its weights → ReLU → 1×1 conv → deconv (stride 2) → IP, with a
    /// Euclidean loss: the device net's loss and every parameter gradient match the host net's
    /// over two iterations (the shared weights' gradients summed from both layers; the column
    /// scratch grows and is reused across layers of different sizes).
    /// </summary>
    [Test]
    public void NetWithSharedWeightsMatchesHost()
    {
        var device = DeviceLayerCheck.Backend(backend);
        const string text = """
            force_backward: true
            layer { name: "data" type: "DummyData" top: "data" top: "target"
              dummy_data_param { shape { dim: 3 dim: 3 dim: 9 dim: 8 } shape { dim: 3 dim: 5 }
                data_filler { type: "uniform" min: -1 max: 1 } data_filler { type: "uniform" min: -1 max: 1 } } }
            layer { name: "c1" type: "Convolution" bottom: "data" top: "c1" param { name: "w" } param { name: "b" }
              convolution_param { num_output: 3 kernel_size: 3 pad: 1 weight_filler { type: "uniform" min: -0.5 max: 0.5 } bias_filler { type: "uniform" } } }
            layer { name: "c2" type: "Convolution" bottom: "c1" top: "c2" param { name: "w" } param { name: "b" }
              convolution_param { num_output: 3 kernel_size: 3 pad: 1 } }
            layer { name: "relu" type: "ReLU" bottom: "c2" top: "c2" }
            layer { name: "c3" type: "Convolution" bottom: "c2" top: "c3"
              convolution_param { num_output: 6 kernel_size: 1 group: 3 weight_filler { type: "uniform" min: -0.5 max: 0.5 } bias_filler { type: "uniform" } } }
            layer { name: "up" type: "Deconvolution" bottom: "c3" top: "up"
              convolution_param { num_output: 2 kernel_size: 4 stride: 2 pad: 1 weight_filler { type: "uniform" min: -0.3 max: 0.3 } bias_filler { type: "uniform" } } }
            layer { name: "ip" type: "InnerProduct" bottom: "up" top: "ip"
              inner_product_param { num_output: 5 weight_filler { type: "uniform" min: -0.05 max: 0.05 } bias_filler { type: "uniform" } } }
            layer { name: "loss" type: "EuclideanLoss" bottom: "ip" bottom: "target" top: "loss" }
            """;
        var param = Engine.Text.ProtoText.Parse<NetParameter>(text);
        using var host = new Net(param, new NetState { Phase = Phase.Train }, quiet: true);
        using var dev = new Net(param, new NetState { Phase = Phase.Train }, quiet: true);
        dev.UseBackend(device);
        foreach (var name in new[] { "c1", "c2", "c3", "up", "ip" })
            Assert.That(dev.Layer(name).RunsOnDevice, name);

        for (int iter = 0; iter < 2; iter++)
        {
            host.ClearParamDiffs();
            dev.ClearParamDiffs();
            float hostLoss = host.Forward(), devLoss = dev.Forward();
            host.Backward();
            dev.Backward();
            Assert.That(devLoss, Is.EqualTo(hostLoss).Within(1e-4 * Math.Abs(hostLoss)), $"iteration {iter + 1}: loss");
            DeviceLayerCheck.AssertClose(dev.Blob("data").ConstDiff, host.Blob("data").Diff, 1e-4f, $"iteration {iter + 1}: data gradient");
            for (int i = 0; i < host.LearnableParams.Count; i++)
                DeviceLayerCheck.AssertClose(dev.LearnableParams[i].Blob.ConstDiff, host.LearnableParams[i].Blob.Diff, 1e-4f,
                    $"iteration {iter + 1}: gradient of {host.LearnableParams[i].Layer.Name} param {host.LearnableParams[i].Index}");
        }
    }
}
