using Engine.Core;
using Engine.Graph;
using Engine.Proto;
using Engine.Text;
using NUnit.Framework;

namespace Engine.Tests.Graph;

[TestFixture]
public class NetBuildTests
{
    [OneTimeSetUp]
    public void Quiet() => Log.Quiet = true;

    private static Net Build(string prototxt, Phase phase = Phase.Train, int level = 0, params string[] stages)
    {
        var state = new NetState { Phase = phase, Level = level };
        state.Stage.AddRange(stages);
        return new Net(ProtoText.Parse<NetParameter>(prototxt), state, seed: 1701, quiet: true);
    }

    private const string Data = """
        layer { name: "data" type: "DummyData" top: "data" top: "label"
          dummy_data_param { shape { dim: 4 dim: 3 } shape { dim: 4 }
                             data_filler { type: "uniform" min: -1 max: 1 } data_filler { type: "constant" value: 1 } } }
        """;

    [Test]
    public void MissingBottomNamesLayerAndBlob()
    {
        var e = Assert.Throws<EngineException>(() => Build(Data + """
            layer { name: "ip" type: "InnerProduct" bottom: "dta" top: "ip" inner_product_param { num_output: 2 } }
            """))!;
        Assert.That(e.Message, Does.Contain("\"ip\"").And.Contain("\"dta\""));
    }

    [Test]
    public void TopProducedTwiceIsAnError()
    {
        var e = Assert.Throws<EngineException>(() => Build(Data + """
            layer { name: "a" type: "InnerProduct" bottom: "data" top: "x" inner_product_param { num_output: 2 } }
            layer { name: "b" type: "InnerProduct" bottom: "x" top: "data" inner_product_param { num_output: 2 } }
            """))!;
        Assert.That(e.Message, Does.Contain("\"b\"").And.Contain("\"data\"").And.Contain("more than one layer"));
    }

    [Test]
    public void UnknownTypeListsKnownTypes()
    {
        var e = Assert.Throws<EngineException>(() => Build(Data + """
            layer { name: "c" type: "convolution" bottom: "data" top: "c" }
            """))!;
        Assert.That(e.Message, Does.Contain("unknown layer type \"convolution\"").And.Contain("Convolution").And.Contain("InnerProduct"));
    }

    [Test]
    public void RepeatedLayerNamesAreAllowedAsInCaffe()
    {
        // Caffe's own mnist_autoencoder has two layers named "loss".
        var net = Build(Data + """
            layer { name: "data" type: "ReLU" bottom: "data" top: "data" }
            """);
        Assert.That(net.Layers.Count(l => l.Name == "data"), Is.EqualTo(2));
        var keys = Enumerable.Range(0, net.Layers.Count).Select(net.LayerKey).ToList();
        Assert.That(keys, Is.Unique);
        Assert.That(keys, Does.Contain("data").And.Contain("data#2"));
    }

    [Test]
    public void SplitIsInsertedForABlobReadTwiceAndSumsGradients()
    {
        const string net = Data + """
            layer { name: "ip" type: "InnerProduct" bottom: "data" top: "ip"
                    inner_product_param { num_output: 3 weight_filler { type: "gaussian" } } }
            layer { name: "loss1" type: "SoftmaxWithLoss" bottom: "ip" bottom: "label" top: "loss1" }
            layer { name: "loss2" type: "SoftmaxWithLoss" bottom: "ip" bottom: "label" top: "loss2" loss_weight: 3 }
            """;
        var both = Build(net);
        Assert.That(both.Layers.Select(l => l.Type), Does.Contain("Split"));
        Assert.That(both.HasBlob("ip_ip_0_split_0") && both.HasBlob("ip_ip_0_split_1"));
        both.ClearParamDiffs();
        float loss = both.ForwardBackward();
        var grad = both.Layer("ip").Blobs[0].Diff.ToArray();

        // Oracle: the same net with one loss of weight 4 (= 1 + 3) gives the same loss and gradient.
        var single = Build(Data + """
            layer { name: "ip" type: "InnerProduct" bottom: "data" top: "ip"
                    inner_product_param { num_output: 3 weight_filler { type: "gaussian" } } }
            layer { name: "loss1" type: "SoftmaxWithLoss" bottom: "ip" bottom: "label" top: "loss1" loss_weight: 4 }
            """);
        single.ClearParamDiffs();
        float loss4 = single.ForwardBackward();
        Assert.That(loss, Is.EqualTo(loss4).Within(1e-5));
        Assert.That(grad, Is.EqualTo(single.Layer("ip").Blobs[0].Diff.ToArray()).Within(1e-5));
    }

    [TestCase(2f)]
    [TestCase(0f)]
    [TestCase(-1f)]
    [TestCase(3.7f)]
    public void LossWeightScalesLossAndGradientsLinearly(float weight)
    {
        string Net(float w) => Data + $$"""
            layer { name: "ip" type: "InnerProduct" bottom: "data" top: "ip"
                    inner_product_param { num_output: 3 weight_filler { type: "gaussian" } } }
            layer { name: "loss" type: "SoftmaxWithLoss" bottom: "ip" bottom: "label" top: "loss" loss_weight: {{w}} }
            """;
        var one = Build(Net(1));
        one.ClearParamDiffs();
        float l1 = one.ForwardBackward();
        var g1 = one.Layer("ip").Blobs[0].Diff.ToArray();
        var scaled = Build(Net(weight));
        scaled.ClearParamDiffs();
        float lw = scaled.ForwardBackward();
        Assert.That(lw, Is.EqualTo(weight * l1).Within(1e-5));
        var gw = scaled.Layer("ip").Blobs[0].Diff.ToArray();
        for (int i = 0; i < g1.Length; i++) Assert.That(gw[i], Is.EqualTo(weight * g1[i]).Within(1e-5));
    }

    [Test]
    public void InPlaceLayerSharesTheBlob()
    {
        var net = Build(Data + """
            layer { name: "ip" type: "InnerProduct" bottom: "data" top: "ip" inner_product_param { num_output: 3 } }
            layer { name: "relu" type: "ReLU" bottom: "ip" top: "ip" }
            """);
        Assert.That(net.Tops[net.Layers.Count - 1][0], Is.SameAs(net.Bottoms[net.Layers.Count - 1][0]));
        Assert.That(net.Outputs.Select(b => b.Name), Is.EquivalentTo(new[] { "label", "ip" }));
    }

    [Test]
    public void SharedParamsByNameHaveOneOwnerAndSummedGradients()
    {
        var net = Build(Data + """
            layer { name: "a" type: "InnerProduct" bottom: "data" top: "a" param { name: "w" } param { name: "b" }
                    inner_product_param { num_output: 3 weight_filler { type: "gaussian" } } }
            layer { name: "b" type: "InnerProduct" bottom: "data" top: "b" param { name: "w" } param { name: "b" }
                    inner_product_param { num_output: 3 weight_filler { type: "gaussian" } } }
            layer { name: "la" type: "SoftmaxWithLoss" bottom: "a" bottom: "label" top: "la" }
            layer { name: "lb" type: "SoftmaxWithLoss" bottom: "b" bottom: "label" top: "lb" }
            """);
        Assert.That(net.LearnableParams, Has.Count.EqualTo(2));
        var wa = net.Layer("a").Blobs[0];
        var wb = net.Layer("b").Blobs[0];
        wa.Data[0] = 42;
        Assert.That(wb.Data[0], Is.EqualTo(42f), "data is shared");
        // Both layers compute the same function of the same input, so the summed gradient is twice one loss's.
        net.ClearParamDiffs();
        net.ForwardBackward();
        var summed = wa.Diff.ToArray();
        var single = Build(Data + """
            layer { name: "a" type: "InnerProduct" bottom: "data" top: "a"
                    inner_product_param { num_output: 3 weight_filler { type: "gaussian" } } }
            layer { name: "la" type: "SoftmaxWithLoss" bottom: "a" bottom: "label" top: "la" }
            """);
        net.Layer("a").Blobs[0].Data.CopyTo(single.Layer("a").Blobs[0].Data);
        single.ClearParamDiffs();
        single.ForwardBackward();
        var one = single.Layer("a").Blobs[0].Diff.ToArray();
        for (int i = 0; i < one.Length; i++) Assert.That(summed[i], Is.EqualTo(2 * one[i]).Within(1e-5));
    }

    [Test]
    public void SharedParamShapeMismatchNamesBothLayers()
    {
        var e = Assert.Throws<EngineException>(() => Build(Data + """
            layer { name: "a" type: "InnerProduct" bottom: "data" top: "a" param { name: "w" } inner_product_param { num_output: 3 } }
            layer { name: "b" type: "InnerProduct" bottom: "data" top: "b" param { name: "w" } inner_product_param { num_output: 4 } }
            """))!;
        Assert.That(e.Message, Does.Contain("\"b\"").And.Contain("\"a\"").And.Contain("\"w\""));
    }

    [Test]
    public void FrozenParamsGetNoGradient()
    {
        var net = Build(Data + """
            layer { name: "a" type: "InnerProduct" bottom: "data" top: "a" param { lr_mult: 0 } param { lr_mult: 2 }
                    inner_product_param { num_output: 3 } }
            layer { name: "b" type: "InnerProduct" bottom: "a" top: "b" train_me: false inner_product_param { num_output: 3 } }
            layer { name: "loss" type: "SoftmaxWithLoss" bottom: "b" bottom: "label" top: "loss" }
            """);
        Assert.That(net.Layer("a").ParamPropagateDown, Is.EqualTo(new[] { false, true }));
        Assert.That(net.Layer("b").ParamPropagateDown, Is.EqualTo(new[] { false, false }));
        Assert.That(net.LearnableParams.Select(p => p.LrMult), Is.EqualTo(new[] { 0f, 2f, 0f, 0f }));
    }

    [Test]
    public void BackwardIsSkippedForLayersThatDoNotReachTheLoss()
    {
        var net = Build(Data + """
            layer { name: "ip" type: "InnerProduct" bottom: "data" top: "ip" inner_product_param { num_output: 3 } }
            layer { name: "acc" type: "Accuracy" bottom: "ip" bottom: "label" top: "acc" }
            layer { name: "side" type: "InnerProduct" bottom: "data" top: "side" inner_product_param { num_output: 2 } }
            layer { name: "loss" type: "SoftmaxWithLoss" bottom: "ip" bottom: "label" top: "loss" }
            """);
        var names = net.Layers.Select(l => l.Name).ToList();
        Assert.That(net.LayerNeedBackward[names.IndexOf("ip")], Is.True);
        Assert.That(net.LayerNeedBackward[names.IndexOf("side")], Is.False);
        Assert.That(net.LayerNeedBackward[names.IndexOf("acc")], Is.False);
        Assert.That(net.LayerNeedBackward[names.IndexOf("data")], Is.False);
    }

    [Test]
    public void PropagateDownFalseStopsTheGradient()
    {
        var net = Build(Data + """
            layer { name: "ip" type: "InnerProduct" bottom: "data" top: "ip" inner_product_param { num_output: 3 } }
            layer { name: "ip2" type: "InnerProduct" bottom: "ip" top: "ip2" propagate_down: false inner_product_param { num_output: 3 } }
            layer { name: "loss" type: "SoftmaxWithLoss" bottom: "ip2" bottom: "label" top: "loss" }
            """);
        var names = net.Layers.Select(l => l.Name).ToList();
        Assert.That(net.BottomNeedBackward[names.IndexOf("ip2")], Is.EqualTo(new[] { false }));
    }

    private const string Phased = """
        layer { name: "always" type: "DummyData" top: "x" dummy_data_param { shape { dim: 1 } } }
        layer { name: "train" type: "ReLU" bottom: "x" top: "t" include { phase: TRAIN } }
        layer { name: "test" type: "ReLU" bottom: "x" top: "u" include { phase: TEST } }
        layer { name: "notest" type: "ReLU" bottom: "x" top: "v" exclude { phase: TEST } }
        layer { name: "lvl" type: "ReLU" bottom: "x" top: "w" include { min_level: 2 max_level: 3 } }
        layer { name: "stage" type: "ReLU" bottom: "x" top: "y" include { stage: "a" stage: "b" } }
        layer { name: "notstage" type: "ReLU" bottom: "x" top: "z" include { not_stage: "a" } }
        layer { name: "m_train" type: "ReLU" bottom: "x" top: "mt" phases: Training }
        layer { name: "m_test" type: "ReLU" bottom: "x" top: "ms" phases: Testing }
        layer { name: "m_both" type: "ReLU" bottom: "x" top: "mb" phases: TrainingTesting }
        """;

    [TestCase(Phase.Train, 0, new string[0], new[] { "always", "train", "notest", "notstage", "m_train", "m_both" })]
    [TestCase(Phase.Test, 0, new string[0], new[] { "always", "test", "notstage", "m_test", "m_both" })]
    [TestCase(Phase.Test, 2, new[] { "a" }, new[] { "always", "test", "lvl", "m_test", "m_both" })]
    [TestCase(Phase.Train, 4, new[] { "a", "b" }, new[] { "always", "train", "notest", "stage", "m_train", "m_both" })]
    public void RulesPickLayersByPhaseLevelAndStage(Phase phase, int level, string[] stages, string[] expected)
    {
        var net = Build(Phased, phase, level, stages);
        Assert.That(net.Layers.Select(l => l.Name).Where(n => !n.Contains("split")), Is.EqualTo(expected));
    }

    [Test]
    public void IncludeAndExcludeTogetherAreRejected()
    {
        var e = Assert.Throws<EngineException>(() => Build("""
            layer { name: "d" type: "DummyData" top: "x" include { phase: TRAIN } exclude { phase: TEST } dummy_data_param { shape { dim: 1 } } }
            """))!;
        Assert.That(e.Message, Does.Contain("\"d\""));
    }

    [Test]
    public void StableLossNeedsAStableSoftmax()
    {
        var e = Assert.Throws<EngineException>(() => Build(Data + """
            layer { name: "ip" type: "InnerProduct" bottom: "data" top: "ip" inner_product_param { num_output: 3 } }
            layer { name: "loss" type: "Loss" bottom: "ip" bottom: "label" top: "loss" loss_param { mode: MultinomialLogistic_StableSoftmax } }
            """))!;
        Assert.That(e.Message, Does.Contain("\"loss\"").And.Contain("Softmax"));
    }

    [Test]
    public void StablePairingMatchesSoftmaxWithLossGradient()
    {
        const string head = Data + """
            layer { name: "ip" type: "InnerProduct" bottom: "data" top: "ip" inner_product_param { num_output: 3 weight_filler { type: "gaussian" } } }
            """;
        var fused = Build(head + """
            layer { name: "loss" type: "SoftmaxWithLoss" bottom: "ip" bottom: "label" top: "loss" }
            """);
        var stable = Build(head + """
            layer { name: "prob" type: "Softmax" bottom: "ip" top: "prob" }
            layer { name: "loss" type: "Loss" bottom: "prob" bottom: "label" top: "loss" loss_param { mode: MultinomialLogistic_StableSoftmax } }
            """);
        var naive = Build(head + """
            layer { name: "prob" type: "Softmax" bottom: "ip" top: "prob" softmax_param { stable_gradient: false } }
            layer { name: "loss" type: "Loss" bottom: "prob" bottom: "label" top: "loss" loss_param { mode: MultinomialLogistic } }
            """);
        var results = new[] { fused, stable, naive }.Select(n => { n.ClearParamDiffs(); var l = n.ForwardBackward(); return (l, g: n.Layer("ip").Blobs[0].Diff.ToArray()); }).ToArray();
        Assert.That(results[1].l, Is.EqualTo(results[0].l).Within(1e-5));
        Assert.That(results[2].l, Is.EqualTo(results[0].l).Within(1e-5));
        Assert.That(results[1].g, Is.EqualTo(results[0].g).Within(1e-5));
        Assert.That(results[2].g, Is.EqualTo(results[0].g).Within(1e-4));
    }
}
