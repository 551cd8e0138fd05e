using Engine.Core;
using Engine.Proto;
using Engine.Tests.Support;
using NUnit.Framework;
using static Engine.Tests.Layers.NeuronLossTestHelpers;
using static Engine.Tests.Layers.Loss.CatalogLossSupport;

namespace Engine.Tests.Layers.Loss;

/// <summary>The Caffe-style losses of the catalog against PyTorch/numpy fixtures, by hand and by finite differences.</summary>
public class CatalogLossLayerTests
{
    // ---------------------------------------------------------------- fixtures

    [Test]
    public void EuclideanMatchesMseLoss()
    {
        Blob a = Fix("euclidean_a"), b = Fix("euclidean_b");
        float loss = Run(Layer("EuclideanLoss"), [a, b], Down(true, true), Fix("euclidean_dy").Data[0]);
        AssertClose([loss], Fix("euclidean_y").Data, "loss");
        AssertClose(a.Diff, Fix("euclidean_da").Data, "da");
        AssertClose(b.Diff, Fix("euclidean_db").Data, "db");
    }

    [Test]
    public void SmoothL1MatchesTorchWithBetaOneOverSigmaSquared()
    {
        Blob a = Fix("smoothl1_a"), b = Fix("smoothl1_b");
        float loss = Run(Layer("SmoothL1Loss", "smooth_l1_loss_param { sigma: 2 }"), [a, b], Down(true, true), Fix("smoothl1_dy").Data[0]);
        AssertClose([loss], Fix("smoothl1_y").Data, "loss");
        AssertClose(a.Diff, Fix("smoothl1_da").Data, "da");
        AssertClose(b.Diff, Fix("smoothl1_db").Data, "db");
    }

    [Test]
    public void SigmoidCrossEntropyMatchesBceWithLogits()
    {
        Blob x = Fix("sigmoid_x"), t = Fix("sigmoid_t");
        float loss = Run(Layer("SigmoidCrossEntropyLoss"), [x, t], Down(true, false), Fix("sigmoid_dy").Data[0]);
        AssertClose([loss], Fix("sigmoid_y").Data, "loss");
        AssertClose(x.Diff, Fix("sigmoid_dx").Data, "dx");
    }

    [Test]
    public void MultinomialLogisticMatchesNllOfLog()
    {
        Blob p = Fix("mll_p"), label = Fix("mll_label");
        float loss = Run(Layer("MultinomialLogisticLoss"), [p, label], Down(true, false), Fix("mll_dy").Data[0]);
        AssertClose([loss], Fix("mll_y").Data, "loss");
        AssertClose(p.Diff, Fix("mll_dp").Data, "dp");
    }

    [TestCase("l1", "L1")]
    [TestCase("l2", "L2")]
    public void HingeMatchesFormula(string fixture, string norm)
    {
        Blob x = Fix($"hinge_{fixture}_x"), label = Fix($"hinge_{fixture}_label");
        float loss = Run(Layer("HingeLoss", $"hinge_loss_param {{ norm: {norm} }}"), [x, label], Down(true, false), Fix($"hinge_{fixture}_dy").Data[0]);
        AssertClose([loss], Fix($"hinge_{fixture}_y").Data, "loss");
        AssertClose(x.Diff, Fix($"hinge_{fixture}_dx").Data, "dx");
    }

    [Test]
    public void ContrastiveMatchesFormula()
    {
        Blob a = Fix("contrastive_a"), b = Fix("contrastive_b"), y = Fix("contrastive_y");
        float loss = Run(Layer("ContrastiveLoss", "contrastive_loss_param { margin: 2 }"), [a, b, y], Down(true, true, false), Fix("contrastive_dy").Data[0]);
        AssertClose([loss], Fix("contrastive_y_loss").Data, "loss");
        AssertClose(a.Diff, Fix("contrastive_da").Data, "da");
        AssertClose(b.Diff, Fix("contrastive_db").Data, "db");
    }

    [Test]
    public void InfogainMatchesFormulaWithHFromABottomAndFromAFile()
    {
        Blob x = Fix("infogain_x"), label = Fix("infogain_label"), h = Fix("infogain_h");
        float loss = Run(Layer("InfogainLoss"), [x, label, h], Down(true, false, false), Fix("infogain_dy").Data[0]);
        AssertClose([loss], Fix("infogain_y").Data, "loss");
        AssertClose(x.Diff, Fix("infogain_dx").Data, "dx");

        string path = Path.Combine(Path.GetTempPath(), $"infogain_{Environment.ProcessId}.binaryproto");
        try
        {
            File.WriteAllBytes(path, Google.Protobuf.MessageExtensions.ToByteArray(h.ToProto()));
            float fromFile = Run(Layer("InfogainLoss", $"infogain_loss_param {{ source: '{path}' }}"), [x, label], Down(true, false), Fix("infogain_dy").Data[0]);
            Assert.That(fromFile, Is.EqualTo(loss));
            AssertClose(x.Diff, Fix("infogain_dx").Data, "dx (file)");
        }
        finally { File.Delete(path); }
    }

    // ---------------------------------------------------------------- by hand

    [Test]
    public void MultinomialLogisticFloorsAt1e20()
    {
        var p = TestData.FromValues("p", [2, 2], 0f, 1f, 0.25f, 0.75f);
        var label = TestData.FromValues("label", [2], 0, 0);
        float loss = Run(Layer("MultinomialLogisticLoss"), [p, label], Down(true, false), 2);
        Assert.That(loss, Is.EqualTo((-Math.Log(1e-20) - Math.Log(0.25)) / 2).Within(1e-4));
        Assert.That(p.Diff.ToArray(), Is.EqualTo(new[] { -1e20f, 0, -4f, 0 }).Within(1e14));
    }

    [Test]
    public void EuclideanPerChannelAndPerElementWeights()
    {
        // a − b = (1, 2 | 3, 4) for N = 2 items of C = 2 channels.
        var a = TestData.FromValues("a", [2, 2], 1, 2, 3, 4);
        var b = new Blob("b", 2, 2);
        var perChannel = TestData.FromValues("w", [2], 10, 1);
        float loss = Run(Layer("EuclideanLoss"), [a, b, perChannel], Down(true, true, false));
        Assert.That(loss, Is.EqualTo((10 * 1 + 1 * 4 + 10 * 9 + 1 * 16) / 4.0).Within(1e-5));
        Assert.That(a.Diff.ToArray(), Is.EqualTo(new[] { 5f, 1f, 15f, 2f }).Within(1e-6));
        Assert.That(b.Diff.ToArray(), Is.EqualTo(new[] { -5f, -1f, -15f, -2f }).Within(1e-6));

        var perElement = TestData.FromValues("w", [2, 2], 1, 0, 2, 0.5f);
        loss = Run(Layer("EuclideanLoss"), [a, b, perElement], Down(true, false, false));
        Assert.That(loss, Is.EqualTo((1 + 0 + 2 * 9 + 0.5 * 16) / 4.0).Within(1e-5));
        Assert.That(a.Diff.ToArray(), Is.EqualTo(new[] { 0.5f, 0f, 3f, 1f }).Within(1e-6));

        var e = Assert.Throws<EngineException>(() => SetUp(Layer("EuclideanLoss"), [a, b, new Blob("w", 3)]))!;
        Assert.That(e.Message, Does.Contain("\"loss\"").And.Contain("4 (one per element").And.Contain("2 (one per channel)"));
    }

    [Test]
    public void SmoothL1InsideAndOutsideWeights()
    {
        // sigma 1: knee at |d| = 1. d = w_in·(a − b) = (0.5, −3): f = 0.125, 2.5.
        var a = TestData.FromValues("a", [1, 2], 1, -1);
        var b = TestData.FromValues("b", [1, 2], 0, 0.5f);
        var inside = TestData.FromValues("in", [1, 2], 0.5f, 2);
        var outside = TestData.FromValues("out", [1, 2], 4, 3);
        float loss = Run(Layer("SmoothL1Loss"), [a, b, inside, outside], Down(true, true, false, false));
        Assert.That(loss, Is.EqualTo(4 * 0.125 + 3 * 2.5).Within(1e-6));
        // f′ = (0.5, −1), times w_in·w_out = (2, 6).
        Assert.That(a.Diff.ToArray(), Is.EqualTo(new[] { 1f, -6f }).Within(1e-6));
        Assert.That(b.Diff.ToArray(), Is.EqualTo(new[] { -1f, 6f }).Within(1e-6));
    }

    // x = (0, 2 | −1, 3) logits, t = (1, 0 | 255, 1) with ignore_label 255: three valid elements, N = 2.
    private static double Bce(double x, double t) => Math.Log(1 + Math.Exp(-Math.Abs(x))) + Math.Max(x, 0) - x * t;
    private static readonly double SigmoidSum = Bce(0, 1) + Bce(2, 0) + Bce(3, 1);

    [TestCase(null, 2)]
    [TestCase(LossParameter.Types.NormalizationMode.Full, 4)]
    [TestCase(LossParameter.Types.NormalizationMode.Valid, 3)]
    [TestCase(LossParameter.Types.NormalizationMode.BatchSize, 2)]
    [TestCase(LossParameter.Types.NormalizationMode.None, 1)]
    public void SigmoidCrossEntropyNormalizationAndIgnoreLabel(LossParameter.Types.NormalizationMode? mode, int divisor)
    {
        var x = TestData.FromValues("x", [2, 2], 0, 2, -1, 3);
        var t = TestData.FromValues("t", [2, 2], 1, 0, 255, 1);
        string norm = mode is { } m ? $"normalization: {m switch { LossParameter.Types.NormalizationMode.Full => "FULL", LossParameter.Types.NormalizationMode.Valid => "VALID", LossParameter.Types.NormalizationMode.BatchSize => "BATCH_SIZE", _ => "NONE" }}" : "";
        float loss = Run(Layer("SigmoidCrossEntropyLoss", $"loss_param {{ ignore_label: 255 {norm} }}"), [x, t], Down(true, false), 3);
        Assert.That(loss, Is.EqualTo(SigmoidSum / divisor).Within(1e-6));
        double s2 = 1 / (1 + Math.Exp(-2));
        Assert.That(x.Diff.ToArray(), Is.EqualTo(new[] { (float)(-0.5 * 3 / divisor), (float)(s2 * 3 / divisor), 0f, (float)((1 / (1 + Math.Exp(-3)) - 1) * 3 / divisor) }).Within(1e-6));
    }

    [Test]
    public void SigmoidCrossEntropyPerChannelWeightsAndClassWeights()
    {
        var x = TestData.FromValues("x", [2, 2], 0, 2, -1, 3);
        var t = TestData.FromValues("t", [2, 2], 1, 0, 0, 1);
        double[] l = [Bce(0, 1), Bce(2, 0), Bce(-1, 0), Bce(3, 1)];
        var w = TestData.FromValues("w", [2], 2, 0.5f);
        float loss = Run(Layer("SigmoidCrossEntropyLoss"), [x, t, w], Down(true, false, false));
        Assert.That(loss, Is.EqualTo((2 * l[0] + 0.5 * l[1] + 2 * l[2] + 0.5 * l[3]) / 2).Within(1e-6));
        Assert.That(x.Diff[0], Is.EqualTo(2 * -0.5 / 2).Within(1e-6));
        // class_weight is per channel too, and multiplies with the weight bottom.
        float both = Run(Layer("SigmoidCrossEntropyLoss", "loss_param { class_weight: 3 class_weight: 1 }"), [x, t, w], Down(true, false, false));
        Assert.That(both, Is.EqualTo((6 * l[0] + 0.5 * l[1] + 6 * l[2] + 0.5 * l[3]) / 2).Within(1e-6));
        Assert.That(x.Diff[0], Is.EqualTo(6 * -0.5 / 2).Within(1e-6));
    }

    [Test]
    public void SoftmaxWithLossPerChannelAndPerElementWeights()
    {
        // Two items, 3 classes; labels 2 and 0.
        var s = TestData.FromValues("s", [2, 3], 1, 2, 3, 0.5f, -1, 0);
        var label = TestData.FromValues("label", [2], 2, 0);
        static double[] Softmax(params double[] v) { var e = v.Select(Math.Exp).ToArray(); return e.Select(x => x / e.Sum()).ToArray(); }
        double[] p0 = Softmax(1, 2, 3), p1 = Softmax(0.5, -1, 0);
        var w = TestData.FromValues("w", [3], 4, 1, 0.5f);   // per class: the label's weight
        float loss = Run(Layer("SoftmaxWithLoss"), [s, label, w], Down(true, false, false));
        Assert.That(loss, Is.EqualTo(-(0.5 * Math.Log(p0[2]) + 4 * Math.Log(p1[0])) / 2).Within(1e-6));
        float[] expected = [(float)(0.25 * p0[0]), (float)(0.25 * p0[1]), (float)(0.25 * (p0[2] - 1)), (float)(2 * (p1[0] - 1)), (float)(2 * p1[1]), (float)(2 * p1[2])];
        Assert.That(s.Diff.ToArray(), Is.EqualTo(expected).Within(1e-6));

        var we = TestData.FromValues("w", [2, 3], 9, 9, 3, 0.5f, 9, 9);   // per element: the label's element counts
        loss = Run(Layer("SoftmaxWithLoss"), [s, label, we], Down(true, false, false));
        Assert.That(loss, Is.EqualTo(-(3 * Math.Log(p0[2]) + 0.5 * Math.Log(p1[0])) / 2).Within(1e-6));
        Assert.That(s.Diff[0], Is.EqualTo(1.5 * p0[0]).Within(1e-6));
        Assert.That(s.Diff[3], Is.EqualTo(0.25 * (p1[0] - 1)).Within(1e-6));
    }

    [Test]
    public void HingeByHand()
    {
        // scores (0.5, −2, 0.2), label 0: t = (0.5, 0, 1.2).
        var x = TestData.FromValues("x", [1, 3], 0.5f, -2, 0.2f);
        var label = TestData.FromValues("label", [1], 0);
        Assert.That(Run(Layer("HingeLoss"), [x, label], Down(true, false)), Is.EqualTo(1.7f).Within(1e-6));
        Assert.That(x.Diff.ToArray(), Is.EqualTo(new[] { -1f, 0f, 1f }));
        Assert.That(Run(Layer("HingeLoss", "hinge_loss_param { norm: L2 }"), [x, label], Down(true, false)), Is.EqualTo(0.25f + 1.44f).Within(1e-6));
        Assert.That(x.Diff.ToArray(), Is.EqualTo(new[] { -1f, 0f, 2.4f }).Within(1e-6));
    }

    [Test]
    public void ContrastiveLegacyAndInactiveMargin()
    {
        // Item 0 similar, d² = 0.25; item 1 dissimilar, d² = 0.25 (d = 0.5); item 2 dissimilar, d = 3 ≥ margin.
        var a = TestData.FromValues("a", [3, 2], 0.5f, 0, 0, 0.5f, 3, 0);
        var b = new Blob("b", 3, 2);
        var y = TestData.FromValues("y", [3], 1, 0, 0);
        float loss = Run(Layer("ContrastiveLoss"), [a, b, y], Down(true, true, false));
        Assert.That(loss, Is.EqualTo((0.25 + 0.25) / 6).Within(1e-6));
        Assert.That(a.Diff[0], Is.EqualTo(0.5 / 3).Within(1e-6));
        Assert.That(a.Diff[3], Is.EqualTo(-0.5 / 0.5001 * 0.5 / 3).Within(1e-6));
        Assert.That(a.Diff[4], Is.EqualTo(0f));
        loss = Run(Layer("ContrastiveLoss", "contrastive_loss_param { legacy_version: true }"), [a, b, y], Down(true, true, false));
        Assert.That(loss, Is.EqualTo((0.25 + 0.75) / 6).Within(1e-6));
        Assert.That(a.Diff[3], Is.EqualTo(-0.5 / 3).Within(1e-6));
    }

    [Test]
    public void InfogainWithIdentityIsSoftmaxWithLoss()
    {
        var x = TestData.Random("x", [2, 4, 3], lo: -2, hi: 2);
        var label = Labels("label", [2, 3], 4);
        label.Data[1] = 7;
        var h = new Blob("h", 4, 4);
        for (int i = 0; i < 4; i++) h.Data[i * 5] = 1;
        foreach (var norm in new[] { "VALID", "FULL", "BATCH_SIZE", "NONE" })
        {
            var lp = $"loss_param {{ ignore_label: 7 normalization: {norm} }}";
            float info = Run(Layer("InfogainLoss", lp), [x, label, h], Down(true, false, false), 0.5f);
            var dInfo = x.Diff.ToArray();
            float soft = Run(Layer("SoftmaxWithLoss", lp), [x, label], Down(true, false), 0.5f);
            Assert.That(info, Is.EqualTo(soft).Within(1e-6), norm);
            Assert.That(dInfo, Is.EqualTo(x.Diff.ToArray()).Within(1e-6), norm);
        }
        var e = Assert.Throws<EngineException>(() => SetUp(Layer("InfogainLoss", "loss_param { normalize: true }"), [x, label, h]))!;
        Assert.That(e.Message, Does.Contain("normalize"));
        e = Assert.Throws<EngineException>(() => SetUp(Layer("InfogainLoss"), [x, label]))!;
        Assert.That(e.Message, Does.Contain("infogain matrix"));
        e = Assert.Throws<EngineException>(() => SetUp(Layer("InfogainLoss"), [x, label, new Blob("h", 3, 3)]))!;
        Assert.That(e.Message, Does.Contain("4 × 4"));
    }

    [Test]
    public void LossFlagsAndNoLabelGradients()
    {
        var x = TestData.Random("x", [2, 3]);
        var label = TestData.FromValues("label", [2], 0, 1);
        foreach (var type in new[] { "MultinomialLogisticLoss", "HingeLoss", "SigmoidCrossEntropyLoss" })
        {
            var bottom1 = type == "SigmoidCrossEntropyLoss" ? TestData.Random("t", [2, 3], lo: 0, hi: 1) : label;
            var (layer, top) = SetUp(Layer(type), [TestData.Random("x", [2, 3], lo: 0.1f, hi: 1), bottom1]);
            Assert.That(layer.IsLoss, Is.True, type);
            Assert.That(layer.AllowForceBackward(1), Is.False, type);
        }
        var (euc, _) = SetUp(Layer("EuclideanLoss"), [x, TestData.Random("b", [2, 3])]);
        Assert.That(euc.AllowForceBackward(1) && euc.CanBackward(1), Is.True);
        var (con, _) = SetUp(Layer("ContrastiveLoss"), [x, TestData.Random("b", [2, 3]), label]);
        Assert.That(con.CanBackward(1) && !con.CanBackward(2), Is.True);
    }

    // ---------------------------------------------------------------- gradient checks

    [Test]
    public void GradientMultinomialLogistic() =>
        Check(Layer("MultinomialLogisticLoss"), [TestData.Random("p", [3, 4], lo: 0.2f, hi: 1), Labels("label", [3], 4)], [0], 1e-3f);

    [Test]
    public void GradientEuclideanBothBottomsAndWeights()
    {
        Check(Layer("EuclideanLoss"), [TestData.Random("a", [2, 3, 2]), TestData.Random("b", [2, 3, 2], seed: 5)], [0, 1]);
        Check(Layer("EuclideanLoss"), [TestData.Random("a", [2, 3, 2]), TestData.Random("b", [2, 3, 2], seed: 5), TestData.Random("w", [3], lo: 0, hi: 2)], [0, 1]);
    }

    [TestCase("")]
    [TestCase("smooth_l1_loss_param { sigma: 3 }")]
    public void GradientSmoothL1(string extra)
    {
        var a = TestData.Random("a", [2, 3, 2], lo: -2, hi: 2);
        var b = new Blob("b", 2, 3, 2);
        float sigma = extra.Length > 0 ? 3 : 1;
        AwayFromKinks(a, 1 / (sigma * sigma), 0.03f);
        Check(Layer("SmoothL1Loss", extra), [a, b], [0, 1], 1e-3f);
        var inside = TestData.FromValues("in", [2, 3, 2], Enumerable.Repeat(1f, 12).ToArray());
        Check(Layer("SmoothL1Loss", extra), [a, b, inside, TestData.Random("out", [2, 3, 2], lo: 0, hi: 2)], [0, 1], 1e-3f);
    }

    [TestCase(false)]
    [TestCase(true)]
    public void GradientContrastive(bool legacy)
    {
        var a = TestData.Random("a", [5, 3]);
        var b = TestData.Random("b", [5, 3], seed: 9);
        var y = TestData.FromValues("y", [5], 1, 0, 0, 1, 0);
        Check(Layer("ContrastiveLoss", $"contrastive_loss_param {{ margin: 2 legacy_version: {(legacy ? "true" : "false")} }}"), [a, b, y], [0, 1]);
    }

    [TestCase("L1")]
    [TestCase("L2")]
    public void GradientHinge(string norm) =>
        Check(Layer("HingeLoss", $"hinge_loss_param {{ norm: {norm} }}"), [AwayFromKinks(TestData.Random("x", [3, 4], lo: -2, hi: 2), 1, 0.03f), Labels("label", [3], 4)], [0]);

    [Test]
    public void GradientSigmoidCrossEntropy()
    {
        var t = TestData.Random("t", [2, 3, 2], lo: 0, hi: 1);
        t.Data[3] = -1;
        Check(Layer("SigmoidCrossEntropyLoss", "loss_param { ignore_label: -1 }"), [TestData.Random("x", [2, 3, 2], lo: -3, hi: 3), t], [0]);
        Check(Layer("SigmoidCrossEntropyLoss"), [TestData.Random("x", [2, 3, 2], lo: -3, hi: 3), t, TestData.Random("w", [2, 3, 2], lo: 0, hi: 2)], [0]);
    }

    [Test]
    public void GradientInfogain()
    {
        var h = TestData.Random("h", [3, 3], lo: 0, hi: 1);
        Check(Layer("InfogainLoss"), [TestData.Random("x", [2, 3, 2], lo: -2, hi: 2), Labels("label", [2, 2], 3), h], [0]);
        Check(Layer("InfogainLoss", "infogain_loss_param { axis: 2 }"), [TestData.Random("x", [2, 2, 3], lo: -2, hi: 2), Labels("label", [2, 2], 3), h], [0]);
    }

    [Test]
    public void GradientSoftmaxWithLossWeights() =>
        Check(Layer("SoftmaxWithLoss"), [TestData.Random("x", [2, 3, 2], lo: -2, hi: 2), Labels("label", [2, 2], 3), TestData.Random("w", [3], lo: 0, hi: 2)], [0]);
}
