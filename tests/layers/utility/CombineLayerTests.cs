using Engine.Core;
using Engine.Graph;
using Engine.Tests.Support;
using NUnit.Framework;
using static Engine.Tests.Layers.NeuronLossTestHelpers;

namespace Engine.Tests.Layers.Utility;

/// <summary>Eltwise, Reduction, ArgMax, Silence, Embed, Filter, Parameter, BatchReindex.</summary>
public class CombineLayerTests
{
    private static EngineException Fails(string prototxt, Blob[] bottoms, int tops = 1) =>
        Assert.Throws<EngineException>(() => SetUp(TestData.Layer(prototxt), bottoms, tops))!;

    // ---------------------------------------------------------------- Eltwise

    [Test]
    public void EltwiseForwardAndBackwardByHand()
    {
        var a = TestData.FromValues("a", [4], 1, -2, 3, 0.5f);
        var b = TestData.FromValues("b", [4], 2, 5, -1, 0.5f);
        var c = TestData.FromValues("c", [4], -1, 6, 3, 4);
        Blob[] x = [a, b, c];
        float[] Run(string param, float[] dy, out Blob[] diffs)
        {
            var (layer, top) = SetUp(TestData.Layer($"name: 'elt' type: 'Eltwise' {param}"), x);
            layer.Forward(x, top);
            dy.CopyTo(top[0].Diff);
            layer.Backward(top, Down(true, true, true), x);
            diffs = x;
            return top[0].Data.ToArray();
        }
        float[] ones = [1, 1, 1, 1];
        Assert.That(Run("", ones, out _), Is.EqualTo(new float[] { 2, 9, 5, 5 }));
        Assert.That(Run("eltwise_param { operation: SUM coeff: 1 coeff: -2 coeff: 0.5 }", [1, 2, 3, 4], out var d), Is.EqualTo(new float[] { -3.5f, -9, 6.5f, 1.5f }));
        Assert.That(d[1].Diff.ToArray(), Is.EqualTo(new float[] { -2, -4, -6, -8 }));
        Assert.That(d[2].Diff.ToArray(), Is.EqualTo(new float[] { 0.5f, 1, 1.5f, 2 }));
        Assert.That(Run("eltwise_param { operation: PROD }", ones, out d), Is.EqualTo(new float[] { -2, -60, -9, 1 }));
        Assert.That(d[0].Diff.ToArray(), Is.EqualTo(new float[] { -2, 30, -3, 2 }), "product of the others");
        Assert.That(Run("eltwise_param { operation: PROD stable_prod_grad: false }", ones, out d), Is.EqualTo(new float[] { -2, -60, -9, 1 }));
        Assert.That(d[1].Diff.ToArray(), Is.EqualTo(new float[] { -1, -12, 9, 2 }).Within(1e-6), "y / x");
        Assert.That(Run("eltwise_param { operation: MAX }", [1, 2, 3, 4], out d), Is.EqualTo(new float[] { 2, 6, 3, 4 }));
        Assert.That(d[0].Diff.ToArray(), Is.EqualTo(new float[] { 0, 0, 3, 0 }), "element 2: a beats b, and c = 3 is not strictly larger");
        Assert.That(d[1].Diff.ToArray(), Is.EqualTo(new float[] { 1, 0, 0, 0 }), "element 3: a ties b, b wins; c is larger");
        Assert.That(d[2].Diff.ToArray(), Is.EqualTo(new float[] { 0, 2, 0, 4 }));
    }

    [Test]
    public void EltwiseMaxTiesFollowCaffe()
    {
        var a = TestData.FromValues("a", [2], 1, 5);
        var b = TestData.FromValues("b", [2], 1, 2);
        var c = TestData.FromValues("c", [2], 1, 5);
        var (layer, top) = SetUp(TestData.Layer("name: 'elt' type: 'Eltwise' eltwise_param { operation: MAX }"), [a, b, c]);
        layer.Forward([a, b, c], top);
        top[0].Diff.Fill(1);
        layer.Backward(top, Down(true, true, true), [a, b, c]);
        // Element 0: a = b, so b wins; c equal is not larger. Element 1: a wins, c equal stays a.
        Assert.That(a.Diff.ToArray(), Is.EqualTo(new float[] { 0, 1 }));
        Assert.That(b.Diff.ToArray(), Is.EqualTo(new float[] { 1, 0 }));
        Assert.That(c.Diff.ToArray(), Is.EqualTo(new float[] { 0, 0 }));
    }

    [TestCase("eltwise_param { operation: SUM }")]
    [TestCase("eltwise_param { operation: SUM coeff: 0.5 coeff: -1 coeff: 2 }")]
    [TestCase("eltwise_param { operation: PROD }")]
    [TestCase("eltwise_param { operation: PROD stable_prod_grad: false }")]
    [TestCase("eltwise_param { operation: MAX }")]
    public void EltwiseGradient(string param)
    {
        // Distinct values per bottom, at least 0.1 apart, so MAX has no kinks within the step.
        var x = Enumerable.Range(0, 3).Select(i => new Blob($"x{i}", 2, 3, 4)).ToArray();
        var rng = new Rng(7);
        for (int k = 0; k < 24; k++)
        {
            var vals = new[] { 0.3f, 0.6f, 0.9f }.OrderBy(_ => rng.NextFloat()).ToArray();
            float sign = rng.NextFloat() < 0.5f ? -1 : 1;
            for (int i = 0; i < 3; i++) x[i].Data[k] = sign * (vals[i] + 0.05f * rng.NextFloat());
        }
        var (layer, top) = SetUp(TestData.Layer($"name: 'elt' type: 'Eltwise' {param}"), x);
        new GradientChecker(1e-2f, 1e-3f).Check(layer, x, top);
    }

    [Test]
    public void EltwiseErrors()
    {
        var e = Fails("name: 'elt1' type: 'Eltwise'", [new Blob("a", 2, 3), new Blob("b", 3, 2)]);
        Assert.That(e.Message, Does.Contain("\"elt1\"").And.Contain("2 3 (6)").And.Contain("3 2 (6)"));
        e = Fails("name: 'elt2' type: 'Eltwise' eltwise_param { coeff: 1 }", [new Blob("a", 2), new Blob("b", 2)]);
        Assert.That(e.Message, Does.Contain("\"elt2\"").And.Contain("one per bottom"));
        e = Fails("name: 'elt3' type: 'Eltwise' eltwise_param { operation: MAX coeff: 1 coeff: 1 }", [new Blob("a", 2), new Blob("b", 2)]);
        Assert.That(e.Message, Does.Contain("\"elt3\"").And.Contain("SUM only"));
        e = Fails("name: 'elt4' type: 'Eltwise'", [new Blob("a", 2)]);
        Assert.That(e.Message, Does.Contain("\"elt4\"").And.Contain("at least 2 bottoms"));
    }

    // ---------------------------------------------------------------- Reduction

    [TestCase("SUM", 0, new float[] { 6 })]
    [TestCase("ASUM", 0, new float[] { 18 })]
    [TestCase("SUMSQ", 0, new float[] { 64 })]
    [TestCase("MEAN", 0, new float[] { 1 })]
    [TestCase("SUM", 1, new float[] { 2, 4 })]
    [TestCase("MEAN", -1, new float[] { 2f / 3, 4f / 3 })]
    [TestCase("SUMSQ", 1, new float[] { 14, 50 })]
    public void ReductionByHand(string op, int axis, float[] expected)
    {
        var x = TestData.FromValues("x", [2, 3], 1, -2, 3, -4, 5, 3);
        var (layer, top) = SetUp(TestData.Layer($"name: 'red' type: 'Reduction' reduction_param {{ operation: {op} axis: {axis} coeff: 2 }}"), [x]);
        layer.Forward([x], top);
        Assert.That(top[0].Shape, Is.EqualTo(axis == 0 ? Array.Empty<int>() : new[] { 2 }));
        Assert.That(top[0].Data.ToArray(), Is.EqualTo(expected.Select(v => 2 * v).ToArray()).Within(1e-5));
    }

    [TestCase("SUM", 0)]
    [TestCase("ASUM", 1)]
    [TestCase("SUMSQ", 2)]
    [TestCase("MEAN", 1)]
    [TestCase("MEAN", -1)]
    public void ReductionGradient(string op, int axis)
    {
        var x = AwayFromZero("x", [2, 3, 4], 0.05f);
        var (layer, top) = SetUp(TestData.Layer($"name: 'red' type: 'Reduction' reduction_param {{ operation: {op} axis: {axis} coeff: 0.7 }}"), [x]);
        new GradientChecker(1e-2f, 1e-3f).Check(layer, [x], top);
    }

    [Test]
    public void ReductionErrors()
    {
        var e = Fails("name: 'red1' type: 'Reduction' reduction_param { axis: 3 }", [new Blob("x", 2, 3)]);
        Assert.That(e.Message, Does.Contain("\"red1\"").And.Contain("axis 3").And.Contain("2 3"));
    }

    // ---------------------------------------------------------------- ArgMax

    [Test]
    public void ArgMaxPerItem()
    {
        var x = TestData.FromValues("x", [2, 4], 0.1f, 0.9f, 0.5f, 0.7f, 3, 1, 2, 3);
        var (layer, top) = SetUp(TestData.Layer("name: 'am' type: 'ArgMax'"), [x]);
        layer.Forward([x], top);
        Assert.That(top[0].Shape, Is.EqualTo(new[] { 2, 1, 1 }));
        Assert.That(top[0].Data.ToArray(), Is.EqualTo(new float[] { 1, 3 }), "ties go to the larger index");

        var (k2, t2) = SetUp(TestData.Layer("name: 'am' type: 'ArgMax' argmax_param { top_k: 2 out_max_val: true }"), [x]);
        k2.Forward([x], t2);
        Assert.That(t2[0].Shape, Is.EqualTo(new[] { 2, 2, 2 }));
        Assert.That(t2[0].Data.ToArray(), Is.EqualTo(new float[] { 1, 3, 0.9f, 0.7f, 3, 0, 3, 3 }));
    }

    [Test]
    public void ArgMaxAlongAnAxis()
    {
        // 2 × 3 × 2: along axis 1.
        var x = TestData.FromValues("x", [2, 3, 2], 1, 6, 5, 2, 3, 4, /**/ 9, 7, 8, 8, 7, 9);
        var (layer, top) = SetUp(TestData.Layer("name: 'am' type: 'ArgMax' argmax_param { axis: 1 }"), [x]);
        layer.Forward([x], top);
        Assert.That(top[0].Shape, Is.EqualTo(new[] { 2, 1, 2 }));
        Assert.That(top[0].Data.ToArray(), Is.EqualTo(new float[] { 1, 0, 0, 2 }));
        var (vals, vt) = SetUp(TestData.Layer("name: 'am' type: 'ArgMax' argmax_param { axis: 1 top_k: 2 out_max_val: true }"), [x]);
        vals.Forward([x], vt);
        Assert.That(vt[0].Shape, Is.EqualTo(new[] { 2, 2, 2 }));
        Assert.That(vt[0].Data.ToArray(), Is.EqualTo(new float[] { 5, 6, 3, 4, 9, 9, 8, 8 }));
        Assert.That(vals.CanBackward(0), Is.False);
    }

    [Test]
    public void ArgMaxErrors()
    {
        var e = Fails("name: 'am1' type: 'ArgMax' argmax_param { top_k: 5 }", [new Blob("x", 2, 4)]);
        Assert.That(e.Message, Does.Contain("\"am1\"").And.Contain("top_k 5").And.Contain("2 4"));
        e = Fails("name: 'am2' type: 'ArgMax' argmax_param { axis: 2 }", [new Blob("x", 2, 4)]);
        Assert.That(e.Message, Does.Contain("\"am2\"").And.Contain("axis 2"));
    }

    // ---------------------------------------------------------------- Silence

    [Test]
    public void SilenceZeroesGradients()
    {
        var a = TestData.Random("a", [3]);
        var b = TestData.Random("b", [2, 2]);
        a.Diff.Fill(5);
        b.Diff.Fill(5);
        var (layer, top) = SetUp(TestData.Layer("name: 'sil' type: 'Silence'"), [a, b], tops: 0);
        layer.Forward([a, b], top);
        layer.Backward(top, Down(true, false), [a, b]);
        Assert.That(a.Diff.ToArray(), Has.All.EqualTo(0f));
        Assert.That(b.Diff.ToArray(), Has.All.EqualTo(5f));
        var e = Fails("name: 'sil1' type: 'Silence'", [a], tops: 1);
        Assert.That(e.Message, Does.Contain("\"sil1\"").And.Contain("0 tops"));
    }

    // ---------------------------------------------------------------- Embed

    private const string EmbedProto = "name: 'emb' type: 'Embed' embed_param { num_output: 3 input_dim: 4 " +
        "weight_filler { type: 'uniform' min: -1 max: 1 } bias_filler { type: 'uniform' min: -1 max: 1 } }";

    [Test]
    public void EmbedLooksUpRows()
    {
        var x = TestData.FromValues("x", [2, 2], 3, 0, 3, 1);
        var (layer, top) = SetUp(TestData.Layer(EmbedProto), [x]);
        Assert.That(layer.Blobs[0].Shape, Is.EqualTo(new[] { 4, 3 }));
        Assert.That(layer.Blobs[1].Shape, Is.EqualTo(new[] { 3 }));
        layer.Forward([x], top);
        Assert.That(top[0].Shape, Is.EqualTo(new[] { 2, 2, 3 }));
        var w = layer.Blobs[0].Data.ToArray();
        var bias = layer.Blobs[1].Data.ToArray();
        for (int i = 0; i < 4; i++)
            for (int j = 0; j < 3; j++)
                Assert.That(top[0].Data[i * 3 + j], Is.EqualTo(w[(int)x.Data[i] * 3 + j] + bias[j]).Within(1e-6));

        layer.ParamPropagateDown = [true, true];
        for (int i = 0; i < 12; i++) top[0].Diff[i] = i;
        layer.Backward(top, Down(false), [x]);
        var dw = layer.Blobs[0].Diff.ToArray();
        Assert.That(dw, Is.EqualTo(new float[] { 3, 4, 5, 9, 10, 11, 0, 0, 0, 0 + 6, 1 + 7, 2 + 8 }), "row 3 used twice: summed");
        Assert.That(layer.Blobs[1].Diff.ToArray(), Is.EqualTo(new float[] { 18, 22, 26 }));
    }

    [Test]
    public void EmbedGradientOfWeights()
    {
        var x = TestData.FromValues("x", [5], 0, 2, 2, 3, 1);
        var (layer, top) = SetUp(TestData.Layer(EmbedProto), [x]);
        new GradientChecker(1e-2f, 1e-3f).Check(layer, [x], top, checkBottoms: []);
        Assert.That(layer.CanBackward(0), Is.False);
    }

    [TestCase(4f)]
    [TestCase(-1f)]
    [TestCase(1.5f)]
    public void EmbedIndexOutOfRangeNamesTheLayer(float bad)
    {
        var x = TestData.FromValues("words", [3], 0, bad, 1);
        var (layer, top) = SetUp(TestData.Layer(EmbedProto), [x]);
        var e = Assert.Throws<EngineException>(() => layer.Forward([x], top))!;
        Assert.That(e.Message, Does.Contain("\"emb\"").And.Contain("\"words\"").And.Contain("[0, 4)"));
    }

    [TestCase("embed_param { input_dim: 4 }", "num_output")]
    [TestCase("embed_param { num_output: 4 }", "input_dim")]
    [TestCase("", "embed_param")]
    public void EmbedParameterErrors(string param, string what)
    {
        var e = Fails($"name: 'emb1' type: 'Embed' {param}", [new Blob("x", 2)]);
        Assert.That(e.Message, Does.Contain("\"emb1\"").And.Contain(what));
    }

    // ---------------------------------------------------------------- Filter

    [Test]
    public void FilterKeepsSelectedItems()
    {
        var data = TestData.FromValues("d", [4, 2], 0, 1, 10, 11, 20, 21, 30, 31);
        var labels = TestData.FromValues("l", [4], 5, 6, 7, 8);
        var selector = TestData.FromValues("s", [4, 1], 1, 0, 0, 1);
        Blob[] bottoms = [data, labels, selector];
        var (layer, top) = SetUp(TestData.Layer("name: 'filt' type: 'Filter'"), bottoms, tops: 2);
        layer.Forward(bottoms, top);
        Assert.That(top[0].Shape, Is.EqualTo(new[] { 2, 2 }));
        Assert.That(top[0].Data.ToArray(), Is.EqualTo(new float[] { 0, 1, 30, 31 }));
        Assert.That(top[1].Data.ToArray(), Is.EqualTo(new float[] { 5, 8 }));
        top[0].Diff.Fill(1);
        layer.Backward(top, Down(true, false, false), bottoms);
        Assert.That(data.Diff.ToArray(), Is.EqualTo(new float[] { 1, 1, 0, 0, 0, 0, 1, 1 }));

        // A new selection changes the tops' first axis in forward.
        new float[] { 0, 1, 1, 1 }.CopyTo(selector.Data);
        layer.Forward(bottoms, top);
        Assert.That(top[0].Shape, Is.EqualTo(new[] { 3, 2 }));
        Assert.That(top[1].Data.ToArray(), Is.EqualTo(new float[] { 6, 7, 8 }));
    }

    [Test]
    public void FilterGradient()
    {
        var data = TestData.Random("d", [5, 3]);
        var selector = TestData.FromValues("s", [5], 0, 1, 1, 0, 1);
        var (layer, top) = SetUp(TestData.Layer("name: 'filt' type: 'Filter'"), [data, selector]);
        new GradientChecker(1e-2f, 1e-3f).Check(layer, [data, selector], top, checkBottoms: [0]);
    }

    [Test]
    public void FilterErrors()
    {
        var e = Fails("name: 'filt1' type: 'Filter'", [new Blob("d", 4, 2), new Blob("s", 3)]);
        Assert.That(e.Message, Does.Contain("\"filt1\"").And.Contain("4 2").And.Contain("3 (3)"));
        e = Fails("name: 'filt2' type: 'Filter'", [new Blob("d", 4, 2), new Blob("s", 4, 2)]);
        Assert.That(e.Message, Does.Contain("\"filt2\"").And.Contain("one value per item"));
        e = Fails("name: 'filt3' type: 'Filter'", [new Blob("d", 4, 2), new Blob("s", 4)], tops: 2);
        Assert.That(e.Message, Does.Contain("\"filt3\"").And.Contain("one top per data blob"));
    }

    // ---------------------------------------------------------------- Parameter

    [Test]
    public void ParameterExposesALearnableBlob()
    {
        var (layer, top) = SetUp(TestData.Layer("name: 'par' type: 'Parameter' parameter_param { shape { dim: 2 dim: 3 } }"), []);
        Assert.That(layer.Blobs[0].Shape, Is.EqualTo(new[] { 2, 3 }));
        Assert.That(top[0].Shape, Is.EqualTo(new[] { 2, 3 }));
        layer.Blobs[0].Data[4] = 7;
        layer.Forward([], top);
        Assert.That(top[0].Data[4], Is.EqualTo(7f));
        layer.ParamPropagateDown = [true];
        top[0].Diff.Fill(1);
        layer.Backward(top, [], []);
        layer.Backward(top, [], []);
        Assert.That(layer.Blobs[0].Diff.ToArray(), Has.All.EqualTo(2f), "accumulates");
        var e = Fails("name: 'par1' type: 'Parameter'", []);
        Assert.That(e.Message, Does.Contain("\"par1\"").And.Contain("parameter_param.shape"));
    }

    [Test]
    public void ParameterInANetIsLearned()
    {
        var text = """
            name: 'p'
            force_backward: true
            layer { name: 'par' type: 'Parameter' top: 'w' parameter_param { shape { dim: 3 } } }
            layer { name: 'red' type: 'Reduction' bottom: 'w' top: 'loss' reduction_param { operation: SUMSQ } loss_weight: 1 }
            """;
        var net = new Net(Engine.Text.ProtoText.Parse<Engine.Proto.NetParameter>(text), new Engine.Proto.NetState { Phase = Engine.Proto.Phase.Train });
        Assert.That(net.LearnableParams, Has.Count.EqualTo(1));
        new float[] { 1, -2, 3 }.CopyTo(net.Layer("par").Blobs[0].Data);
        float loss = net.ForwardBackward();
        Assert.That(loss, Is.EqualTo(14f));
        Assert.That(net.Layer("par").Blobs[0].Diff.ToArray(), Is.EqualTo(new float[] { 2, -4, 6 }));
    }

    // ---------------------------------------------------------------- BatchReindex

    [Test]
    public void BatchReindexGathersAndScattersBack()
    {
        var x = TestData.FromValues("x", [3, 2], 0, 1, 10, 11, 20, 21);
        var idx = TestData.FromValues("i", [4], 2, 0, 2, 1);
        var (layer, top) = SetUp(TestData.Layer("name: 'br' type: 'BatchReindex'"), [x, idx]);
        layer.Forward([x, idx], top);
        Assert.That(top[0].Shape, Is.EqualTo(new[] { 4, 2 }));
        Assert.That(top[0].Data.ToArray(), Is.EqualTo(new float[] { 20, 21, 0, 1, 20, 21, 10, 11 }));
        for (int i = 0; i < 8; i++) top[0].Diff[i] = i;
        layer.Backward(top, Down(true, false), [x, idx]);
        Assert.That(x.Diff.ToArray(), Is.EqualTo(new float[] { 2, 3, 6, 7, 0 + 4, 1 + 5 }));
        Assert.That(layer.CanBackward(1), Is.False);
    }

    [Test]
    public void BatchReindexGradient()
    {
        var x = TestData.Random("x", [4, 3]);
        var idx = TestData.FromValues("i", [5], 3, 1, 1, 0, 3);
        var (layer, top) = SetUp(TestData.Layer("name: 'br' type: 'BatchReindex'"), [x, idx]);
        new GradientChecker(1e-2f, 1e-3f).Check(layer, [x, idx], top, checkBottoms: [0]);
    }

    [Test]
    public void BatchReindexErrors()
    {
        var x = new Blob("x", 3, 2);
        var bad = TestData.FromValues("i", [2], 0, 3);
        var (layer, top) = SetUp(TestData.Layer("name: 'br1' type: 'BatchReindex'"), [x, bad]);
        var e = Assert.Throws<EngineException>(() => layer.Forward([x, bad], top))!;
        Assert.That(e.Message, Does.Contain("\"br1\"").And.Contain("[0, 3)").And.Contain("3 2 (6)"));
        e = Fails("name: 'br2' type: 'BatchReindex'", [x, new Blob("i", 2, 1)]);
        Assert.That(e.Message, Does.Contain("\"br2\"").And.Contain("1-D").And.Contain("2 1"));
    }
}
