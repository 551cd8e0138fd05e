using Engine.Core;
using Engine.Proto;
using Engine.Tests.Support;
using NUnit.Framework;
using static Engine.Tests.Layers.NeuronLossTestHelpers;
using static Engine.Tests.Layers.Loss.CatalogLossSupport;

namespace Engine.Tests.Layers.Loss;

/// <summary>The `Loss` layer's catalog modes: equal to the Caffe-style layers, weights, gradients.</summary>
public class LossModeTests
{
    private static Blob[] Inputs(string mode) => mode switch
    {
        "EuclideanSSE" => [TestData.Random("a", [3, 2, 2]), TestData.Random("b", [3, 2, 2], seed: 4)],
        "SmoothL1" => [AwayFromKinks(TestData.Random("a", [3, 2, 2], lo: -2, hi: 2), 0.25f, 0.03f), new Blob("b", 3, 2, 2)],
        "SigmoidCrossEntropy" => [TestData.Random("x", [3, 2, 2], lo: -3, hi: 3), TestData.Random("t", [3, 2, 2], lo: 0, hi: 1)],
        "Contrastive" => [TestData.Random("a", [4, 3]), TestData.Random("b", [4, 3], seed: 4), TestData.FromValues("y", [4], 1, 0, 0, 1)],
        "HingeL1" or "HingeL2" => [AwayFromKinks(TestData.Random("x", [3, 4], lo: -2, hi: 2), 1, 0.03f), Labels("label", [3], 4)],
        _ => [TestData.Random("x", [3, 4], lo: -2, hi: 2), Labels("label", [3], 4), TestData.Random("h", [4, 4], lo: 0, hi: 1)],   // Infogain
    };

    private static (string type, string extra) Equivalent(string mode) => mode switch
    {
        "EuclideanSSE" => ("EuclideanLoss", ""),
        "SmoothL1" => ("SmoothL1Loss", "smooth_l1_loss_param { sigma: 2 }"),
        "SigmoidCrossEntropy" => ("SigmoidCrossEntropyLoss", ""),
        "Contrastive" => ("ContrastiveLoss", "contrastive_loss_param { margin: 2 }"),
        "HingeL1" => ("HingeLoss", ""),
        "HingeL2" => ("HingeLoss", "hinge_loss_param { norm: L2 }"),
        _ => ("InfogainLoss", ""),
    };

    private static string ModeExtra(string mode) => mode switch
    {
        "SmoothL1" => "smooth_l1_loss_param { sigma: 2 }",
        "Contrastive" => "loss_param { mode: Contrastive margin: 2 }",
        _ => "",
    };

    private static LayerParameter Mode(string mode, string lossExtra = "", string extra = "") =>
        mode == "Contrastive" && lossExtra.Length == 0
            ? Layer("Loss", $"{ModeExtra(mode)} {extra}")
            : Layer("Loss", $"loss_param {{ mode: {mode} {(mode == "Contrastive" ? "margin: 2" : "")} {lossExtra} }} {(mode == "SmoothL1" ? ModeExtra(mode) : "")} {extra}");

    private static int[] Checked(string mode) => mode is "EuclideanSSE" or "SmoothL1" or "Contrastive" ? [0, 1] : [0];

    private static readonly string[] Modes = ["EuclideanSSE", "SmoothL1", "SigmoidCrossEntropy", "Contrastive", "HingeL1", "HingeL2", "Infogain"];

    [TestCaseSource(nameof(Modes))]
    public void ModeEqualsTheCaffeLayer(string mode)
    {
        var inputs = Inputs(mode);
        var down = inputs.Select((_, i) => Checked(mode).Contains(i)).ToArray();
        var (type, extra) = Equivalent(mode);
        float layerLoss = Run(Layer(type, extra), inputs, down, 0.7f);
        var layerGrads = Checked(mode).Select(i => inputs[i].Diff.ToArray()).ToArray();
        float modeLoss = Run(Mode(mode), inputs, down, 0.7f);
        Assert.That(modeLoss, Is.EqualTo(layerLoss).Within(1e-6 * Math.Max(1, Math.Abs(layerLoss))));
        for (int k = 0; k < layerGrads.Length; k++)
            Assert.That(inputs[Checked(mode)[k]].Diff.ToArray(), Is.EqualTo(layerGrads[k]).Within(1e-6), $"bottom {Checked(mode)[k]}");
    }

    [TestCaseSource(nameof(Modes))]
    public void GradientWithPerElementWeights(string mode)
    {
        var inputs = Inputs(mode).ToList();
        var predictionShape = inputs[0].Shape.ToArray();
        int[] shape = mode == "Contrastive" ? [predictionShape[0]] : predictionShape;
        inputs.Add(TestData.Random("w", shape, seed: 77, lo: 0, hi: 2));
        Check(Mode(mode), inputs.ToArray(), Checked(mode), mode == "SmoothL1" ? 1e-3f : 1e-2f);
    }

    [Test]
    public void GradientWithPerPositionWeightsAndClassWeights()
    {
        foreach (var mode in new[] { "HingeL2", "Infogain", "MultinomialLogistic" })
        {
            var x = mode == "MultinomialLogistic" ? TestData.Random("p", [2, 3, 2], lo: 0.2f, hi: 1) : TestData.Random("x", [2, 3, 2], lo: -2, hi: 2);
            var inputs = new List<Blob> { x, Labels("label", [2, 2], 3) };
            if (mode == "Infogain") inputs.Add(TestData.Random("h", [3, 3], lo: 0, hi: 1));
            inputs.Add(TestData.Random("w", [2, 2], seed: 3, lo: 0, hi: 2));
            Check(Mode(mode, "class_weight: 2 class_weight: 0.5 class_weight: 1"), inputs.ToArray(), [0], mode == "MultinomialLogistic" ? 1e-3f : 1e-2f);
        }
    }

    [Test]
    public void EuclideanSsePerElementAndPerLabelWeightsByHand()
    {
        // a − b = (1, 2 | 3, 4), N = 2 (BATCH_SIZE): loss = Σ ½·w·d² / 2.
        var a = TestData.FromValues("a", [2, 2], 1, 2, 3, 4);
        var b = new Blob("b", 2, 2);
        var w = TestData.FromValues("w", [2, 2], 1, 0, 2, 0.5f);
        float loss = Run(Mode("EuclideanSSE"), [a, b, w], Down(true, true, false), 2);
        Assert.That(loss, Is.EqualTo(0.5 * (1 + 18 + 8) / 2).Within(1e-5));   // the loss weight 2 scales only the gradients
        Assert.That(a.Diff.ToArray(), Is.EqualTo(new[] { 1f, 0f, 6f, 2f }).Within(1e-6));
        Assert.That(b.Diff.ToArray(), Is.EqualTo(new[] { -1f, 0f, -6f, -2f }).Within(1e-6));
        // FULL divides by the 4 elements.
        loss = Run(Mode("EuclideanSSE", "normalization: FULL"), [a, b, w], Down(true, false, false));
        Assert.That(loss, Is.EqualTo(0.5 * 27 / 4).Within(1e-6));
    }

    [Test]
    public void HingePerPositionWeightsClassWeightsAndIgnoreByHand()
    {
        // Two positions (N = 2, C = 2, inner 1); labels 0 and 1 (ignored). Scores (0.5, 0.2): t = (0.5, 1.2).
        var x = TestData.FromValues("x", [2, 2], 0.5f, 0.2f, 3, 3);
        var label = TestData.FromValues("label", [2], 0, 1);
        var w = TestData.FromValues("w", [2], 2, 10);
        float loss = Run(Mode("HingeL1", "ignore_label: 1 class_weight: 3 class_weight: 1"), [x, label, w], Down(true, false, false));
        Assert.That(loss, Is.EqualTo(3 * 2 * (0.5 + 1.2) / 1).Within(1e-5));   // VALID: 1 position
        Assert.That(x.Diff.ToArray(), Is.EqualTo(new[] { -6f, 6f, 0f, 0f }).Within(1e-6));
    }

    [Test]
    public void MultinomialPerPositionWeightsByHand()
    {
        var p = TestData.FromValues("p", [2, 3], 0.2f, 0.3f, 0.5f, 0.6f, 0.1f, 0.3f);
        var label = TestData.FromValues("label", [2], 2, 0);
        var w = TestData.FromValues("w", [2], 3, 0.5f);
        float loss = Run(Mode("MultinomialLogistic"), [p, label, w], Down(true, false, false));
        Assert.That(loss, Is.EqualTo(-(3 * Math.Log(0.5) + 0.5 * Math.Log(0.6)) / 2).Within(1e-6));
        Assert.That(p.Diff.ToArray(), Is.EqualTo(new[] { 0f, 0f, (float)(-1.5 / 0.5), (float)(-0.25 / 0.6), 0f, 0f }).Within(1e-6));
    }

    [Test]
    public void ContrastivePerPairAndClassWeightsByHand()
    {
        // Item 0 similar d² = 0.25, item 1 dissimilar d = 0.5, margin 1: (1 − 0.5)² = 0.25.
        var a = TestData.FromValues("a", [2, 2], 0.5f, 0, 0, 0.5f);
        var b = new Blob("b", 2, 2);
        var y = TestData.FromValues("y", [2], 1, 0);
        var w = TestData.FromValues("w", [2], 2, 4);
        float loss = Run(Layer("Loss", "loss_param { mode: Contrastive class_weight: 0.5 class_weight: 3 }"), [a, b, y, w], Down(true, true, false, false));
        Assert.That(loss, Is.EqualTo((0.5 * 6 * 0.25 + 0.5 * 2 * 0.25) / 2).Within(1e-6));
        Assert.That(a.Diff[0], Is.EqualTo(6 * 0.5 / 2).Within(1e-6));
        Assert.That(b.Diff[0], Is.EqualTo(-6 * 0.5 / 2).Within(1e-6));
    }

    [Test]
    public void InfogainModeReadsHFromTheFile()
    {
        Blob x = Fix("infogain_x"), label = Fix("infogain_label"), h = Fix("infogain_h");
        string path = Path.Combine(Path.GetTempPath(), $"infogain_mode_{Environment.ProcessId}.binaryproto");
        try
        {
            File.WriteAllBytes(path, Google.Protobuf.MessageExtensions.ToByteArray(h.ToProto()));
            float loss = Run(Layer("Loss", $"loss_param {{ mode: Infogain }} infogain_loss_param {{ source: '{path}' }}"), [x, label], Down(true, false), Fix("infogain_dy").Data[0]);
            AssertClose([loss], Fix("infogain_y").Data, "loss");
            AssertClose(x.Diff, Fix("infogain_dx").Data, "dx");
        }
        finally { File.Delete(path); }
    }

    [Test]
    public void ModeErrors()
    {
        var a = TestData.Random("a", [2, 3]);
        var b = TestData.Random("b", [2, 3]);
        var e = Assert.Throws<EngineException>(() => SetUp(Layer("Loss", "loss_param { mode: EuclideanSSE class_weight: 1 }"), [a, b]))!;
        Assert.That(e.Message, Does.Contain("\"loss\"").And.Contain("class_weight does not apply to mode EuclideanSSE"));
        e = Assert.Throws<EngineException>(() => SetUp(Layer("Loss", "loss_param { mode: SmoothL1 ignore_label: 0 }"), [a, b]))!;
        Assert.That(e.Message, Does.Contain("ignore_label does not apply to mode SmoothL1"));
        e = Assert.Throws<EngineException>(() => SetUp(Layer("Loss", "loss_param { mode: Contrastive }"), [a, b]))!;
        Assert.That(e.Message, Does.Contain("mode Contrastive takes 3 bottoms"));
        e = Assert.Throws<EngineException>(() => SetUp(Layer("Loss", "loss_param { mode: Infogain }"), [a, Labels("l", [2], 3)]))!;
        Assert.That(e.Message, Does.Contain("infogain matrix"));
        e = Assert.Throws<EngineException>(() => SetUp(Layer("Loss", "loss_param { mode: EuclideanSSE }"), [a, b, new Blob("w", 5)]))!;
        Assert.That(e.Message, Does.Contain("\"w\"").And.Contain("6 (one per element"));
        e = Assert.Throws<EngineException>(() => SetUp(Layer("Loss", "loss_param { mode: SigmoidCrossEntropy }"), [a, new Blob("t", 2, 2)]))!;
        Assert.That(e.Message, Does.Contain("same count"));

        var (sig, top) = SetUp(Layer("Loss", "loss_param { mode: SigmoidCrossEntropy }"), [a, TestData.Random("t", [2, 3], lo: 0, hi: 1)]);
        Assert.That(sig.CanBackward(1), Is.False);
        var (euc, _) = SetUp(Layer("Loss", "loss_param { mode: EuclideanSSE }"), [a, b]);
        Assert.That(euc.CanBackward(1), Is.True);
        Assert.That(euc.CanBackward(2), Is.False);
    }
}
