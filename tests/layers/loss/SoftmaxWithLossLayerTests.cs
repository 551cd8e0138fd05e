using Engine.Core;
using Engine.Proto;
using Engine.Tests.Support;
using NUnit.Framework;
using static Engine.Tests.Layers.NeuronLossTestHelpers;

namespace Engine.Tests.Layers.Loss;

public class SoftmaxWithLossLayerTests
{
    internal static LayerParameter SoftmaxWithLoss(LossParameter? loss = null, int? axis = null) => new()
    {
        Name = "loss",
        Type = "SoftmaxWithLoss",
        Phase = Phase.Train,
        LossParam = loss,
        SoftmaxParam = axis is int a ? new SoftmaxParameter { Axis = a } : null,
    };

    /// <summary>Forward, then backward with the loss weight in the top's gradient.</summary>
    internal static float Run(Layer layer, Blob scores, Blob labels, Blob[] top, float lossWeight = 1)
    {
        layer.Forward([scores, labels], top);
        top[0].Diff[0] = lossWeight;
        layer.Backward(top, Down(true, false), [scores, labels]);
        return top[0].Data[0];
    }

    [TestCase("ce4d")]
    [TestCase("ce2d")]
    public void MatchesPyTorchCrossEntropy(string fixture)
    {
        // F.cross_entropy(reduction='mean', ignore_index=-1) divides by the non-ignored count: VALID.
        var x = Fixture($"{fixture}_x");
        var label = Fixture($"{fixture}_label");
        var (layer, top) = SetUp(SoftmaxWithLoss(new LossParameter { IgnoreLabel = -1 }), [x, label]);
        Assert.That(top[0].Count, Is.EqualTo(1));
        float loss = Run(layer, x, label, top, Fixture($"{fixture}_dy").Data[0]);
        AssertClose([loss], Fixture($"{fixture}_y").Data, $"{fixture} loss");
        AssertClose(x.Diff, Fixture($"{fixture}_dx").Data, $"{fixture} dx");
    }

    // Scores 2×3×1×2 and labels 2×1×1×2; the last position carries the ignore_label 5.
    private static readonly float[] TinyScores =
    [
        1f, 0.5f, /* c1 */ 2f, -1f, /* c2 */ 0f, 0.5f,   // n = 0
        -1f, 3f, /* c1 */ 0.5f, 1f, /* c2 */ 1.5f, 2f,   // n = 1
    ];
    private static readonly float[] TinyLabels = [0f, 2f, 1f, 5f];

    private static double NegLogSoftmax(int k, params double[] s) => Math.Log(s.Sum(Math.Exp)) - s[k];

    // −log p_label at the three non-ignored positions: (n0,w0) label 0 of (1, 2, 0);
    // (n0,w1) label 2 of (0.5, −1, 0.5); (n1,w0) label 1 of (−1, 0.5, 1.5).
    private static readonly double TinySum = NegLogSoftmax(0, 1, 2, 0) + NegLogSoftmax(2, 0.5, -1, 0.5) + NegLogSoftmax(1, -1, 0.5, 1.5);

    [TestCase(LossParameter.Types.NormalizationMode.Full, 4)]      // N·H·W positions
    [TestCase(LossParameter.Types.NormalizationMode.Valid, 3)]     // non-ignored positions
    [TestCase(LossParameter.Types.NormalizationMode.BatchSize, 2)] // N
    [TestCase(LossParameter.Types.NormalizationMode.None, 1)]
    public void NormalizationModes(LossParameter.Types.NormalizationMode mode, int divisor)
    {
        var scores = TestData.FromValues("scores", [2, 3, 1, 2], TinyScores);
        var labels = TestData.FromValues("labels", [2, 1, 1, 2], TinyLabels);
        var (layer, top) = SetUp(SoftmaxWithLoss(new LossParameter { IgnoreLabel = 5, Normalization = mode }), [scores, labels]);
        float loss = Run(layer, scores, labels, top, lossWeight: 2);
        Assert.That(loss, Is.EqualTo(TinySum / divisor).Within(1e-6));

        // Gradient at (n0, w0), label 0: (p − onehot)·2/divisor; the ignored position gets 0.
        double z = Math.Exp(1) + Math.Exp(2) + Math.Exp(0);
        Assert.That(scores.Diff[0], Is.EqualTo((Math.Exp(1) / z - 1) * 2 / divisor).Within(1e-6));
        Assert.That(scores.Diff[2], Is.EqualTo(Math.Exp(2) / z * 2 / divisor).Within(1e-6));
        foreach (int c in new[] { 0, 1, 2 }) Assert.That(scores.Diff[6 + c * 2 + 1], Is.EqualTo(0f), "ignored position");
    }

    [TestCase(true, 3)]   // normalize: true means VALID
    [TestCase(false, 2)]  // normalize: false means BATCH_SIZE
    public void DeprecatedNormalize(bool normalize, int divisor)
    {
        var scores = TestData.FromValues("scores", [2, 3, 1, 2], TinyScores);
        var labels = TestData.FromValues("labels", [2, 1, 1, 2], TinyLabels);
        var (layer, top) = SetUp(SoftmaxWithLoss(new LossParameter { IgnoreLabel = 5, Normalize = normalize }), [scores, labels]);
        Assert.That(Run(layer, scores, labels, top), Is.EqualTo(TinySum / divisor).Within(1e-6));
        // An explicit normalization wins over normalize.
        var (both, top2) = SetUp(SoftmaxWithLoss(new LossParameter { IgnoreLabel = 5, Normalize = normalize, Normalization = LossParameter.Types.NormalizationMode.Full }), [scores, labels]);
        Assert.That(Run(both, scores, labels, top2), Is.EqualTo(TinySum / 4).Within(1e-6));
    }

    [Test]
    public void DefaultIsValidAndTheNormalizerIsAtLeastOne()
    {
        var scores = TestData.FromValues("scores", [2, 3, 1, 2], TinyScores);
        var labels = TestData.FromValues("labels", [2, 1, 1, 2], 5, 5, 5, 5);
        var (layer, top) = SetUp(SoftmaxWithLoss(new LossParameter { IgnoreLabel = 5 }), [scores, labels]);
        Assert.That(Run(layer, scores, labels, top), Is.EqualTo(0f));
        Assert.That(scores.Diff.ToArray(), Has.All.EqualTo(0f));

        var labels2 = TestData.FromValues("labels", [2, 1, 1, 2], TinyLabels.Select(v => v == 5 ? 0f : v).ToArray());
        var (dflt, top2) = SetUp(SoftmaxWithLoss(), [scores, labels2]);
        double all = TinySum + NegLogSoftmax(0, 3, 1, 2);
        Assert.That(Run(dflt, scores, labels2, top2), Is.EqualTo(all / 4).Within(1e-6));
    }

    // Caffe's test_softmax_with_loss_layer: with normalize false, summing the losses obtained
    // while ignoring each of the 5 labels in turn gives 4× the full loss (each position is
    // counted in 4 of the 5 runs, and the divisor does not depend on the ignored count).
    [TestCase(null)]
    [TestCase(LossParameter.Types.NormalizationMode.None)]
    public void IgnoringEachLabelInTurnSumsToFourTimesTheFullLoss(LossParameter.Types.NormalizationMode? mode)
    {
        var scores = TestData.Random("scores", [10, 5, 2, 3], lo: -3, hi: 3);
        var labels = Labels("labels", [10, 1, 2, 3], 5);
        LossParameter Loss() => mode is { } m ? new LossParameter { Normalization = m } : new LossParameter { Normalize = false };
        var (full, top) = SetUp(SoftmaxWithLoss(Loss()), [scores, labels]);
        full.Forward([scores, labels], top);
        double fullLoss = top[0].Data[0];
        double sum = 0;
        for (int ignore = 0; ignore < 5; ignore++)
        {
            var p = Loss();
            p.IgnoreLabel = ignore;
            var (layer, t) = SetUp(SoftmaxWithLoss(p), [scores, labels]);
            layer.Forward([scores, labels], t);
            sum += t[0].Data[0];
        }
        Assert.That(sum, Is.EqualTo(4 * fullLoss).Within(1e-4 * Math.Abs(fullLoss)));
    }

    [TestCase(null, null)]
    [TestCase(2, null)]
    [TestCase(null, LossParameter.Types.NormalizationMode.Full)]
    [TestCase(null, LossParameter.Types.NormalizationMode.BatchSize)]
    public void Gradient(int? ignore, LossParameter.Types.NormalizationMode? mode)
    {
        var scores = TestData.Random("scores", [2, 4, 2, 3], lo: -2, hi: 2);
        var labels = Labels("labels", [2, 1, 2, 3], 4);
        var lp = new LossParameter();
        if (ignore is int i) lp.IgnoreLabel = i;
        if (mode is { } m) lp.Normalization = m;
        var (layer, top) = SetUp(SoftmaxWithLoss(lp), [scores, labels]);
        new GradientChecker(1e-2f, 1e-2f).Check(layer, [scores, labels], top, checkBottoms: [0]);
    }

    [Test]
    public void GradientAlongAxis2()
    {
        var scores = TestData.Random("scores", [2, 3, 4], lo: -2, hi: 2);
        var labels = Labels("labels", [2, 3], 4);
        var (layer, top) = SetUp(SoftmaxWithLoss(axis: 2), [scores, labels]);
        new GradientChecker(1e-2f, 1e-2f).Check(layer, [scores, labels], top, checkBottoms: [0]);
    }

    [Test]
    public void SecondTopHoldsTheProbabilities()
    {
        var scores = TestData.Random("scores", [3, 4, 2], lo: -2, hi: 2);
        var labels = Labels("labels", [3, 2], 4);
        var (layer, top) = SetUp(SoftmaxWithLoss(), [scores, labels], tops: 2);
        Assert.That(top[1].Shape, Is.EqualTo(scores.Shape));
        layer.Forward([scores, labels], top);
        var (softmax, ptop) = SetUp(Param("Softmax", "prob"), [scores]);
        softmax.Forward([scores], ptop);
        Assert.That(top[1].Data.ToArray(), Is.EqualTo(ptop[0].Data.ToArray()).Within(1e-7));
    }

    [Test]
    public void LabelOutOfRangeNamesLayerLabelAndIndex()
    {
        var scores = TestData.Random("scores", [2, 3]);
        var labels = TestData.FromValues("labels", [2], 1, 7);
        var (layer, top) = SetUp(SoftmaxWithLoss(), [scores, labels]);
        var e = Assert.Throws<EngineException>(() => layer.Forward([scores, labels], top))!;
        Assert.That(e.Message, Does.Contain("\"loss\"").And.Contain("label 7").And.Contain("index 1"));
        labels.Data[1] = -1;
        e = Assert.Throws<EngineException>(() => layer.Forward([scores, labels], top))!;
        Assert.That(e.Message, Does.Contain("label -1").And.Contain("index 1"));
    }

    [Test]
    public void WrongBottomCountsAndShapes()
    {
        var scores = TestData.Random("scores", [2, 3]);
        var layer = LayerRegistry.Create(SoftmaxWithLoss());
        var e = Assert.Throws<EngineException>(() => layer.SetUp([scores], [new Blob("l")]))!;
        Assert.That(e.Message, Does.Contain("\"loss\"").And.Contain("2 bottoms").And.Contain("got 1"));
        e = Assert.Throws<EngineException>(() => SetUp(SoftmaxWithLoss(), [scores, new Blob("labels", 2, 2)]))!;
        Assert.That(e.Message, Does.Contain("4 labels"));
        e = Assert.Throws<EngineException>(() => SetUp(SoftmaxWithLoss(), [scores, new Blob("labels", 3)]))!;
        Assert.That(e.Message, Does.Contain("first dimension"));
        e = Assert.Throws<EngineException>(() => SetUp(SoftmaxWithLoss(), [scores, new Blob("labels", 2)], tops: 3))!;
        Assert.That(e.Message, Does.Contain("at most 2 tops"));
    }

    [Test]
    public void NoGradientToTheLabels()
    {
        var scores = TestData.Random("scores", [2, 3]);
        var labels = TestData.FromValues("labels", [2], 0, 2);
        var (layer, top) = SetUp(SoftmaxWithLoss(), [scores, labels]);
        Assert.That(layer.IsLoss, Is.True);
        Assert.That(layer.AllowForceBackward(0), Is.True);
        Assert.That(layer.AllowForceBackward(1), Is.False);
        layer.Forward([scores, labels], top);
        top[0].Diff[0] = 1;
        var e = Assert.Throws<EngineException>(() => layer.Backward(top, Down(true, true), [scores, labels]))!;
        Assert.That(e.Message, Does.Contain("\"loss\"").And.Contain("labels"));
    }
}
