using Engine.Core;
using Engine.Layers;
using Engine.Proto;
using Engine.Tests.Support;
using NUnit.Framework;

namespace Engine.Tests.Layers.Neuron;

/// <summary>
/// The device code of AbsVal, BNLL, Clip, ELU, Exp, Log, Power, PReLU, Swish, Threshold and
/// Activation against their host code (<see cref="DeviceLayerCheck"/>), on the CPU backend and
/// the OpenCL device: every parameter variant, in place and not, with inputs in each layer's domain.
/// </summary>
[TestFixtureSource(typeof(DeviceLayerCheck), nameof(DeviceLayerCheck.BackendNames))]
public class NeuronLayersDeviceTests(string backend)
{
    // 210 elements (not a multiple of a work-group), and an odd shape of 429.
    private static readonly int[][] Shape = [[2, 3, 5, 7]];
    private static readonly int[][] OddShape = [[3, 1, 11, 13]];

    private void Check(string prototxt, bool inPlace, (float, float) range, int[][]? shape = null, bool forwardOnly = false,
        Func<int, int, float[]>? input = null, bool[]? propagateDown = null, Action<Layer>? afterSetUp = null) =>
        DeviceLayerCheck.Compare(backend, TestData.Layer(prototxt), shape ?? Shape, new()
        {
            InPlace = inPlace, Range = range, ForwardOnly = forwardOnly, Input = input, PropagateDown = propagateDown,
            AfterSetUp = afterSetUp,
        });

    /// <summary>Uniform values in [lo, hi) with some elements set exactly to each of <paramref name="exact"/> (kinks, bounds).</summary>
    private static Func<int, int, float[]> WithExact(float lo, float hi, params float[] exact)
    {
        var rng = new Rng(77);
        return (_, count) =>
        {
            var v = DeviceLayerCheck.Uniform(rng, count, lo, hi);
            for (int i = 0; i < count; i += 5) v[i] = exact[i / 5 % exact.Length];
            return v;
        };
    }

    [TestCase(false)]
    [TestCase(true)]
    public void AbsVal(bool odd) =>
        Check("name: 'abs' type: 'AbsVal'", false, (-1, 1), odd ? OddShape : null, input: WithExact(-1, 1, 0f));

    [Test]
    public void AbsValWithoutPropagateDown() =>
        Check("name: 'abs' type: 'AbsVal'", false, (-1, 1), propagateDown: [false]);

    [TestCase(false)]
    [TestCase(true)]
    public void BNLL(bool inPlace) => Check("name: 'bnll' type: 'BNLL'", inPlace, (-6, 6));

    [Test]
    public void BNLLOddShape() => Check("name: 'bnll' type: 'BNLL'", false, (-30, 30), OddShape);

    [TestCase(-0.5f, 0.4f, false)]
    [TestCase(-0.5f, 0.4f, true)]
    [TestCase(0f, 2f, false)]
    [TestCase(0.25f, 0.25f, false)]
    [TestCase(0.25f, 0.25f, true)]
    public void Clip(float min, float max, bool inPlace) =>
        Check(FormattableString.Invariant($"name: 'clip' type: 'Clip' clip_param {{ min: {min} max: {max} }}"), inPlace, (-1, 1),
            input: WithExact(-1, 1, min, max, 0f));

    [TestCase("", false)]
    [TestCase("", true)]
    [TestCase("elu_param { alpha: 0.5 }", false)]
    [TestCase("elu_param { alpha: 2.5 }", true)]
    [TestCase("elu_param { alpha: 0 }", true)]
    public void ELU(string param, bool inPlace) =>
        Check($"name: 'elu' type: 'ELU' {param}", inPlace, (-3, 3), input: WithExact(-3, 3, 0f));

    [TestCase("", false)]
    [TestCase("", true)]
    [TestCase("exp_param { base: 2 scale: 0.5 shift: 1 }", false)]
    [TestCase("exp_param { base: 2 scale: 0.5 shift: 1 }", true)]
    [TestCase("exp_param { scale: -1.5 shift: 0.3 }", false)]
    [TestCase("exp_param { base: 10 shift: -1 }", true)]
    public void Exp(string param, bool inPlace) =>
        Check($"name: 'exp' type: 'Exp' {param}", inPlace, (-2, 2));

    // Inputs keep the argument scale·x + shift positive (and away from 0).
    [TestCase("", false, 0.05f, 4f)]
    [TestCase("", true, 0.05f, 4f)]
    [TestCase("log_param { base: 10 scale: 2 shift: 1 }", false, 0.05f, 4f)]
    [TestCase("log_param { base: 10 scale: 2 shift: 1 }", true, 0.05f, 4f)]
    [TestCase("log_param { base: 2 scale: 0.5 }", true, 0.1f, 3f)]
    [TestCase("log_param { scale: -1 shift: 4 }", false, -2f, 3f)]
    [TestCase("log_param { base: 0.5 scale: -1 shift: 4 }", true, -2f, 3f)]
    public void Log(string param, bool inPlace, float lo, float hi) =>
        Check($"name: 'log' type: 'Log' {param}", inPlace, (lo, hi));

    // Integer powers take any base; fractional ones a positive base (scale·x + shift > 0 on the range).
    [TestCase("", false, -2f, 2f)]
    [TestCase("power_param { power: 0 }", false, -2f, 2f)]
    [TestCase("power_param { power: 0 scale: 3 shift: 1 }", true, -2f, 2f)]
    [TestCase("power_param { power: 1 scale: 2 shift: -1 }", false, -2f, 2f)]
    [TestCase("power_param { power: 1 scale: 2 shift: -1 }", true, -2f, 2f)]
    [TestCase("power_param { power: 2 }", false, -2f, 2f)]
    [TestCase("power_param { power: 2 scale: -0.5 shift: 1 }", true, -2f, 2f)]
    [TestCase("power_param { power: 3 scale: 1.5 shift: 0.5 }", false, -2f, 2f)]
    [TestCase("power_param { power: 3 scale: 1.5 shift: 0.5 }", true, -2f, 2f)]
    [TestCase("power_param { power: 0.5 scale: 2 shift: 0.5 }", false, 0.1f, 3f)]
    [TestCase("power_param { power: -1.5 scale: 0.5 shift: 1 }", true, 0.1f, 3f)]
    [TestCase("power_param { power: 2.5 scale: 0 shift: 2 }", false, -2f, 2f)]
    [TestCase("power_param { power: 2.5 scale: 0 shift: 2 }", true, -2f, 2f)]
    public void Power(string param, bool inPlace, float lo, float hi) =>
        Check($"name: 'pow' type: 'Power' {param}", inPlace, (lo, hi));

    // Distinct slopes per channel, so a wrong channel index shows.
    private const string PReLUPerChannel = "name: 'pr' type: 'PReLU' prelu_param { filler { type: 'uniform' min: -0.5 max: 0.8 } }";
    private const string PReLUShared = "name: 'pr' type: 'PReLU' prelu_param { channel_shared: true filler { type: 'constant' value: 0.3 } }";

    [TestCase(false, false)]
    [TestCase(false, true)]
    [TestCase(true, false)]
    [TestCase(true, true)]
    public void PReLU(bool shared, bool inPlace) =>
        Check(shared ? PReLUShared : PReLUPerChannel, inPlace, (-1, 1), input: WithExact(-1, 1, 0f));

    // Channel reductions longer than a work-group (2·17·19 = 646 per channel, 1938 shared), and a
    // two-axis bottom (one position per channel).
    [TestCase(false, 2, 3, 17, 19)]
    [TestCase(true, 2, 3, 17, 19)]
    [TestCase(false, 5, 9)]
    [TestCase(true, 5, 9)]
    public void PReLUShapes(bool shared, params int[] shape) =>
        Check(shared ? PReLUShared : PReLUPerChannel, false, (-1, 1), [shape]);

    [TestCase(false)]
    [TestCase(true)]
    public void PReLUSlopeGradientOnly(bool inPlace) =>
        Check(PReLUPerChannel, inPlace, (-1, 1), propagateDown: [false]);

    [TestCase(false)]
    [TestCase(true)]
    public void PReLUInputGradientOnly(bool inPlace) =>
        Check(PReLUPerChannel, inPlace, (-1, 1), afterSetUp: l => l.ParamPropagateDown = [false]);

    [TestCase("", false)]
    [TestCase("", true)]
    [TestCase("swish_param { beta: 0.5 }", false)]
    [TestCase("swish_param { beta: 2 }", true)]
    [TestCase("swish_param { beta: -1 }", false)]
    public void Swish(string param, bool inPlace) =>
        Check($"name: 'swish' type: 'Swish' {param}", inPlace, (-5, 5));

    [TestCase(0f, false)]
    [TestCase(0f, true)]
    [TestCase(0.3f, false)]
    [TestCase(-0.7f, true)]
    public void Threshold(float threshold, bool inPlace) =>
        Check(FormattableString.Invariant($"name: 'th' type: 'Threshold' threshold_param {{ threshold: {threshold} }}"), inPlace, (-1, 1),
            forwardOnly: true, input: WithExact(-1, 1, threshold));

    [TestCase("ReLU", "", false)]
    [TestCase("ReLU", "relu_param { negative_slope: 0.2 }", true)]
    [TestCase("Sigmoid", "", false)]
    [TestCase("Sigmoid", "", true)]
    [TestCase("TanH", "", false)]
    [TestCase("TanH", "", true)]
    public void Activation(string mode, string param, bool inPlace) =>
        Check($"name: 'act' type: 'Activation' activation_param {{ mode: {mode} }} {param}", inPlace, (-3, 3));

    // The wrapper runs where its inner layer runs: ReLU with a negative slope in place stays on the host.
    [Test]
    public void ActivationFollowsItsInnerLayer()
    {
        var layer = LayerRegistry.Create(TestData.Layer("name: 'act' type: 'Activation' activation_param { mode: ReLU } relu_param { negative_slope: -0.5 }"));
        var b = new Blob("b", [2, 3]);
        layer.SetUp([b], [b]);
        Assert.That(layer.RunsOnDevice, Is.False);
        Assert.That(((ActivationLayer)layer).Inner.RunsOnDevice, Is.False);
        var other = LayerRegistry.Create(TestData.Layer("name: 'act' type: 'Activation' activation_param { mode: ReLU } relu_param { negative_slope: -0.5 }"));
        other.SetUp([b], [new Blob("t")]);
        Assert.That(other.RunsOnDevice, Is.True);
    }
}
