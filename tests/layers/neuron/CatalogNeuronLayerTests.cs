using Engine.Core;
using Engine.Layers;
using Engine.Tests.Support;
using NUnit.Framework;
using static Engine.Tests.Layers.NeuronLossTestHelpers;

namespace Engine.Tests.Layers.Neuron;

/// <summary>
/// PReLU, ELU, AbsVal, BNLL, Power, Exp, Log, Threshold, Clip, Swish and Activation: PyTorch
/// values (tests/fixtures/make_catalog1_fixtures.py), finite differences, in place, errors.
/// </summary>
public class CatalogNeuronLayerTests
{
    private static Blob Fix(string name) => TestData.Fixture($"catalog1/{name}.npy", name);

    // The prototxt for each fixture case; the parameters match the fixture script.
    private static readonly Dictionary<string, string> Prototxt = new()
    {
        ["prelu"] = "name: 'pr' type: 'PReLU'",
        ["prelu_shared"] = "name: 'pr' type: 'PReLU' prelu_param { channel_shared: true }",
        ["elu"] = "name: 'elu' type: 'ELU' elu_param { alpha: 0.7 }",
        ["bnll"] = "name: 'bnll' type: 'BNLL'",
        ["power"] = "name: 'pow' type: 'Power' power_param { power: 2.5 scale: 0.8 shift: 3 }",
        ["exp"] = "name: 'exp' type: 'Exp' exp_param { base: 2 shift: 0.5 scale: 1.5 }",
        ["log"] = "name: 'log' type: 'Log' log_param { base: 10 shift: 2 scale: 0.5 }",
        ["clip"] = "name: 'clip' type: 'Clip' clip_param { min: -0.4 max: 0.6 }",
        ["swish"] = "name: 'swish' type: 'Swish' swish_param { beta: 1.5 }",
    };

    [TestCase("prelu")]
    [TestCase("prelu_shared")]
    [TestCase("elu")]
    [TestCase("bnll")]
    [TestCase("power")]
    [TestCase("exp")]
    [TestCase("log")]
    [TestCase("clip")]
    [TestCase("swish")]
    public void MatchesPyTorch(string fixture)
    {
        var x = Fix($"{fixture}_x");
        var (layer, top) = SetUp(TestData.Layer(Prototxt[fixture]), [x]);
        bool prelu = fixture.StartsWith("prelu");
        if (prelu) Fix($"{fixture}_a").Data.CopyTo(layer.Blobs[0].Data);
        layer.Forward([x], top);
        Assert.That(top[0].Shape, Is.EqualTo(x.Shape));
        AssertClose(top[0].Data, Fix($"{fixture}_y").Data, $"{fixture} y", 2e-5, 1e-6);
        Fix($"{fixture}_dy").Data.CopyTo(top[0].Diff);
        layer.Blobs.ForEach(b => b.Diff.Clear());
        layer.Backward(top, Down(true), [x]);
        AssertClose(x.Diff, Fix($"{fixture}_dx").Data, $"{fixture} dx", 2e-5, 1e-6);
        if (prelu) AssertClose(layer.Blobs[0].Diff, Fix($"{fixture}_da").Data, $"{fixture} da", 1e-5, 1e-5);
    }

    [Test]
    public void PReLUDefaultsAndParamGradientAccumulates()
    {
        var x = AwayFromZero("x", [2, 4, 3], 0.05f);
        var (layer, top) = SetUp(TestData.Layer("name: 'pr' type: 'PReLU'"), [x]);
        Assert.That(layer.Blobs, Has.Count.EqualTo(1));
        Assert.That(layer.Blobs[0].Shape, Is.EqualTo(new[] { 4 }));
        Assert.That(layer.Blobs[0].Data.ToArray(), Has.All.EqualTo(0.25f));
        layer.ParamPropagateDown = [true];
        layer.Forward([x], top);
        top[0].Diff.Fill(1);
        layer.Backward(top, Down(false), [x]);
        var once = layer.Blobs[0].Diff.ToArray();
        layer.Backward(top, Down(false), [x]);
        Assert.That(layer.Blobs[0].Diff.ToArray(), Is.EqualTo(once.Select(v => 2 * v).ToArray()).Within(1e-5), "+= on the slopes");

        var (shared, _) = SetUp(TestData.Layer("name: 'pr' type: 'PReLU' prelu_param { channel_shared: true filler { type: 'constant' value: 0.1 } }"), [x]);
        Assert.That(shared.Blobs[0].Count, Is.EqualTo(1));
        Assert.That(shared.Blobs[0].NumAxes, Is.EqualTo(0), "Caffe's shared slope is a 0-axis blob");
        Assert.That(shared.Blobs[0].Data[0], Is.EqualTo(0.1f));
    }

    private static IEnumerable<TestCaseData> GradientCases()
    {
        yield return new TestCaseData("name: 'pr' type: 'PReLU' prelu_param { filler { type: 'uniform' min: -0.5 max: 0.5 } }", -1f, 1f, new float[] { 0 });
        yield return new TestCaseData("name: 'pr' type: 'PReLU' prelu_param { channel_shared: true }", -1f, 1f, new float[] { 0 });
        yield return new TestCaseData("name: 'elu' type: 'ELU'", -2f, 2f, new float[] { 0 });
        yield return new TestCaseData("name: 'elu' type: 'ELU' elu_param { alpha: 0.5 }", -2f, 2f, new float[] { 0 });
        yield return new TestCaseData("name: 'abs' type: 'AbsVal'", -1f, 1f, new float[] { 0 });
        yield return new TestCaseData("name: 'bnll' type: 'BNLL'", -4f, 4f, Array.Empty<float>());
        yield return new TestCaseData("name: 'pow' type: 'Power' power_param { power: 0.37 scale: 0.83 shift: -2.4 }", 3.5f, 5f, Array.Empty<float>());
        yield return new TestCaseData("name: 'pow' type: 'Power' power_param { power: 2 scale: 0.34 shift: -2.4 }", -1f, 1f, Array.Empty<float>());
        yield return new TestCaseData("name: 'pow' type: 'Power' power_param { power: 1 scale: 0.83 shift: -2.4 }", -1f, 1f, Array.Empty<float>());
        yield return new TestCaseData("name: 'pow' type: 'Power' power_param { power: 0 scale: 0.83 }", -1f, 1f, Array.Empty<float>());
        yield return new TestCaseData("name: 'exp' type: 'Exp'", -1f, 1f, Array.Empty<float>());
        yield return new TestCaseData("name: 'exp' type: 'Exp' exp_param { base: 2 scale: 0.5 shift: 1 }", -1f, 1f, Array.Empty<float>());
        yield return new TestCaseData("name: 'log' type: 'Log'", 0.5f, 2f, Array.Empty<float>());
        yield return new TestCaseData("name: 'log' type: 'Log' log_param { base: 2 scale: 0.5 shift: 1 }", -1f, 1f, Array.Empty<float>());
        yield return new TestCaseData("name: 'clip' type: 'Clip' clip_param { min: -0.5 max: 0.4 }", -1f, 1f, new float[] { -0.5f, 0.4f });
        yield return new TestCaseData("name: 'swish' type: 'Swish'", -3f, 3f, Array.Empty<float>());
        yield return new TestCaseData("name: 'swish' type: 'Swish' swish_param { beta: 2.5 }", -3f, 3f, Array.Empty<float>());
        yield return new TestCaseData("name: 'act' type: 'Activation' activation_param { mode: ReLU }", -1f, 1f, new float[] { 0 });
        yield return new TestCaseData("name: 'act' type: 'Activation' activation_param { mode: Sigmoid }", -3f, 3f, Array.Empty<float>());
        yield return new TestCaseData("name: 'act' type: 'Activation' activation_param { mode: TanH }", -3f, 3f, Array.Empty<float>());
    }

    /// <summary>Uniform inputs in [lo, hi) kept at least 0.03 from each kink.</summary>
    private static Blob Input(int[] shape, float lo, float hi, float[] kinks, ulong seed = 1701)
    {
        var x = TestData.Random("x", shape, seed, lo, hi);
        var d = x.Data;
        for (int i = 0; i < d.Length; i++)
            foreach (var k in kinks)
                if (Math.Abs(d[i] - k) < 0.03f) d[i] = d[i] < k ? k - 0.03f - (k - d[i]) : k + 0.03f + (d[i] - k);
        return x;
    }

    [TestCaseSource(nameof(GradientCases))]
    public void Gradient(string prototxt, float lo, float hi, float[] kinks)
    {
        var x = Input([2, 3, 4, 5], lo, hi, kinks);
        var (layer, top) = SetUp(TestData.Layer(prototxt), [x]);
        new GradientChecker(1e-2f, 1e-2f).Check(layer, [x], top);
    }

    [TestCase("name: 'pr' type: 'PReLU' prelu_param { filler { type: 'uniform' min: -0.5 max: 0.5 } }")]
    [TestCase("name: 'elu' type: 'ELU' elu_param { alpha: 0.5 }")]
    [TestCase("name: 'bnll' type: 'BNLL'")]
    [TestCase("name: 'pow' type: 'Power' power_param { power: 1.7 scale: 0.5 shift: 2 }")]
    [TestCase("name: 'pow' type: 'Power' power_param { power: 2 scale: 0.5 shift: 2 }")]
    [TestCase("name: 'exp' type: 'Exp' exp_param { base: 3 scale: 0.5 shift: 1 }")]
    [TestCase("name: 'log' type: 'Log' log_param { shift: 2 }")]
    [TestCase("name: 'clip' type: 'Clip' clip_param { min: -0.3 max: 0.2 }")]
    [TestCase("name: 'swish' type: 'Swish' swish_param { beta: 0.7 }")]
    [TestCase("name: 'thr' type: 'Threshold' threshold_param { threshold: 0.1 }")]
    [TestCase("name: 'act' type: 'Activation' activation_param { mode: TanH }")]
    public void InPlaceMatchesSeparateBlobs(string prototxt)
    {
        var x = Input([3, 4, 5], -1, 1, [0, -0.3f, 0.2f], seed: 5);
        var dy = TestData.Random("dy", [3, 4, 5], seed: 6);
        var (sep, top) = SetUp(TestData.Layer(prototxt), [x]);
        sep.ParamPropagateDown = Enumerable.Repeat(true, sep.Blobs.Count).ToArray();
        sep.Forward([x], top);
        dy.Data.CopyTo(top[0].Diff);
        bool grad = sep.CanBackward(0);
        if (grad) sep.Backward(top, Down(true), [x]);

        var shared = new Blob("x", 3, 4, 5);
        x.Data.CopyTo(shared.Data);
        var inPlace = LayerRegistry.Create(TestData.Layer(prototxt));
        inPlace.FillerRng = new Rng(0);
        inPlace.SetUp([shared], [shared]);
        for (int b = 0; b < sep.Blobs.Count; b++) sep.Blobs[b].Data.CopyTo(inPlace.Blobs[b].Data);
        inPlace.ParamPropagateDown = Enumerable.Repeat(true, inPlace.Blobs.Count).ToArray();
        inPlace.Forward([shared], [shared]);
        Assert.That(shared.Data.ToArray(), Is.EqualTo(top[0].Data.ToArray()).Within(1e-6));
        if (!grad) return;
        dy.Data.CopyTo(shared.Diff);
        inPlace.Backward([shared], Down(true), [shared]);
        Assert.That(shared.Diff.ToArray(), Is.EqualTo(x.Diff.ToArray()).Within(1e-6));
        for (int b = 0; b < sep.Blobs.Count; b++)
            Assert.That(inPlace.Blobs[b].Diff.ToArray(), Is.EqualTo(sep.Blobs[b].Diff.ToArray()).Within(1e-5));
    }

    [Test]
    public void ForwardByFormula()
    {
        var x = TestData.FromValues("x", [5], -2f, -0.5f, 0f, 0.5f, 2f);
        float[] Run(string prototxt)
        {
            var (layer, top) = SetUp(TestData.Layer(prototxt), [x]);
            layer.Forward([x], top);
            return top[0].Data.ToArray();
        }
        Assert.That(Run("name: 'a' type: 'AbsVal'"), Is.EqualTo(new[] { 2f, 0.5f, 0f, 0.5f, 2f }));
        Assert.That(Run("name: 't' type: 'Threshold' threshold_param { threshold: 0.5 }"), Is.EqualTo(new[] { 0f, 0f, 0f, 0f, 1f }));
        Assert.That(Run("name: 't' type: 'Threshold'"), Is.EqualTo(new[] { 0f, 0f, 0f, 1f, 1f }));
        Assert.That(Run("name: 'c' type: 'Clip' clip_param { min: -1 max: 0.25 }"), Is.EqualTo(new[] { -1f, -0.5f, 0f, 0.25f, 0.25f }));
        Assert.That(Run("name: 'p' type: 'Power' power_param { power: 2 scale: 2 shift: 1 }"), Is.EqualTo(new[] { 9f, 0f, 1f, 4f, 25f }).Within(1e-6));
        Assert.That(Run("name: 'p' type: 'Power' power_param { power: 0 }"), Has.All.EqualTo(1f));
        Assert.That(Run("name: 'e' type: 'Exp' exp_param { base: 2 }"), Is.EqualTo(new[] { 0.25f, MathF.Sqrt(0.5f), 1f, MathF.Sqrt(2f), 4f }).Within(1e-6));
        Assert.That(Run("name: 'l' type: 'Log' log_param { base: 2 shift: 4 scale: 2 }").Skip(1), Is.EqualTo(new[] { MathF.Log2(3), 2f, MathF.Log2(5), 3f }).Within(1e-6));
        // BNLL stays finite and exact far from 0.
        var big = TestData.FromValues("big", [4], -100f, -40f, 40f, 100f);
        var (bnll, bt) = SetUp(TestData.Layer("name: 'b' type: 'BNLL'"), [big]);
        bnll.Forward([big], bt);
        Assert.That(bt[0].Data.ToArray(), Is.EqualTo(new[] { MathF.Exp(-100), MathF.Exp(-40), 40f, 100f }).Within(1e-6));
    }

    [Test]
    public void AbsValAndClipGradientsAtTheKinks()
    {
        var x = TestData.FromValues("x", [5], -1f, 0f, 1f, 0.5f, -0.5f);
        var (abs, at) = SetUp(TestData.Layer("name: 'a' type: 'AbsVal'"), [x]);
        abs.Forward([x], at);
        at[0].Diff.Fill(2);
        abs.Backward(at, Down(true), [x]);
        Assert.That(x.Diff.ToArray(), Is.EqualTo(new[] { -2f, 0f, 2f, 2f, -2f }));
        var (clip, ct) = SetUp(TestData.Layer("name: 'c' type: 'Clip' clip_param { min: -0.5 max: 0.5 }"), [x]);
        clip.Forward([x], ct);
        ct[0].Diff.Fill(3);
        clip.Backward(ct, Down(true), [x]);
        Assert.That(x.Diff.ToArray(), Is.EqualTo(new[] { 0f, 3f, 0f, 3f, 3f }), "bounds pass the gradient, as Caffe");
    }

    [Test]
    public void ThresholdHasNoGradient()
    {
        var x = TestData.Random("x", [4]);
        var (layer, top) = SetUp(TestData.Layer("name: 'thr' type: 'Threshold'"), [x]);
        Assert.That(layer.CanBackward(0), Is.False);
        layer.Forward([x], top);
        var e = Assert.Throws<EngineException>(() => layer.Backward(top, Down(true), [x]))!;
        Assert.That(e.Message, Does.Contain("\"thr\""));
    }

    [TestCase("ReLU", "ReLU")]
    [TestCase("Sigmoid", "Sigmoid")]
    [TestCase("TanH", "TanH")]
    [TestCase("", "ReLU")]
    public void ActivationMatchesItsLayer(string mode, string type)
    {
        var x = TestData.Random("x", [2, 3, 4], lo: -3, hi: 3);
        var dy = TestData.Random("dy", [2, 3, 4], seed: 8);
        string p = mode.Length == 0 ? "name: 'act' type: 'Activation'" : $"name: 'act' type: 'Activation' activation_param {{ mode: {mode} }}";
        var (act, at) = SetUp(TestData.Layer(p), [x]);
        Assert.That(((ActivationLayer)act).Inner.Type, Is.EqualTo("Activation"));
        var (reference, rt) = SetUp(Param(type, "ref"), [x]);
        act.Forward([x], at);
        reference.Forward([x], rt);
        Assert.That(at[0].Data.ToArray(), Is.EqualTo(rt[0].Data.ToArray()));
        dy.Data.CopyTo(at[0].Diff);
        act.Backward(at, Down(true), [x]);
        var da = x.Diff.ToArray();
        dy.Data.CopyTo(rt[0].Diff);
        reference.Backward(rt, Down(true), [x]);
        Assert.That(da, Is.EqualTo(x.Diff.ToArray()));
    }

    [Test]
    public void ActivationReLUHonoursNegativeSlope()
    {
        var x = TestData.FromValues("x", [2], -2f, 3f);
        var (act, at) = SetUp(TestData.Layer("name: 'act' type: 'Activation' activation_param { mode: ReLU } relu_param { negative_slope: 0.5 }"), [x]);
        act.Forward([x], at);
        Assert.That(at[0].Data.ToArray(), Is.EqualTo(new[] { -1f, 3f }));
    }

    [TestCase("name: 'clip1' type: 'Clip'", "clip_param")]
    [TestCase("name: 'clip1' type: 'Clip' clip_param { min: 0 }", "clip_param")]
    [TestCase("name: 'clip1' type: 'Clip' clip_param { min: 1 max: 0 }", "min")]
    [TestCase("name: 'exp1' type: 'Exp' exp_param { base: -2 }", "exp_param.base")]
    [TestCase("name: 'exp1' type: 'Exp' exp_param { base: 0 }", "exp_param.base")]
    [TestCase("name: 'log1' type: 'Log' log_param { base: 1 }", "log_param.base")]
    [TestCase("name: 'elu1' type: 'ELU' elu_param { alpha: -1 }", "alpha")]
    [TestCase("name: 'pow1' type: 'Power' power_param { power: inf }", "power_param")]
    public void ParameterErrorsNameTheLayer(string prototxt, string what)
    {
        var x = new Blob("x", 2, 3);
        var e = Assert.Throws<EngineException>(() => SetUp(TestData.Layer(prototxt), [x]))!;
        var name = prototxt.Split('\'')[1];
        Assert.That(e.Message, Does.Contain($"\"{name}\"").And.Contain(what));
    }

    [Test]
    public void ShapeErrorsNameTheLayer()
    {
        var e = Assert.Throws<EngineException>(() => SetUp(TestData.Layer("name: 'pr1' type: 'PReLU'"), [new Blob("v", 5)]))!;
        Assert.That(e.Message, Does.Contain("\"pr1\"").And.Contain("2 axes"));

        // Reshaped to another channel count after set-up.
        var x = new Blob("x", 2, 3, 4);
        var (layer, top) = SetUp(TestData.Layer("name: 'pr2' type: 'PReLU'"), [x]);
        x.Reshape(2, 5, 4);
        e = Assert.Throws<EngineException>(() => layer.Reshape([x], top))!;
        Assert.That(e.Message, Does.Contain("\"pr2\"").And.Contain("2 5 4").And.Contain("(3)"));

        // Weights of the wrong shape given before set-up.
        var pre = LayerRegistry.Create(TestData.Layer("name: 'pr3' type: 'PReLU'"));
        pre.Blobs.Add(new Blob("w", 4));
        e = Assert.Throws<EngineException>(() => pre.SetUp([new Blob("x", 2, 3, 4)], [new Blob("t")]))!;
        Assert.That(e.Message, Does.Contain("\"pr3\"").And.Contain("4 (4)").And.Contain("2 3 4"));

        e = Assert.Throws<EngineException>(() => { var b = new Blob("b", 3); SetUp(TestData.Layer("name: 'abs1' type: 'AbsVal'"), [b]).layer.SetUp([b], [b]); })!;
        Assert.That(e.Message, Does.Contain("\"abs1\"").And.Contain("in place"));
    }
}
