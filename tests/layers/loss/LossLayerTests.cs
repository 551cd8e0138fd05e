using Engine.Core;
using Engine.Graph;
using Engine.Proto;
using Engine.Tests.Support;
using NUnit.Framework;
using static Engine.Tests.Layers.NeuronLossTestHelpers;
using Mode = Engine.Proto.LossParameter.Types.LossMode;

namespace Engine.Tests.Layers.Loss;

/// <summary>The Marvin-style `Loss` layer and the stable softmax pairing.</summary>
public class LossLayerTests
{
    private static LayerParameter Loss(Mode? mode, int? ignore = null, float[]? classWeights = null)
    {
        var p = new LayerParameter { Name = "loss", Type = "Loss", Phase = Phase.Train, LossParam = new LossParameter() };
        if (mode is Mode m) p.LossParam.Mode = m;
        if (ignore is int i) p.LossParam.IgnoreLabel = i;
        if (classWeights != null) p.LossParam.ClassWeight.AddRange(classWeights);
        return p;
    }

    private static LayerParameter Softmax(bool? stable = null) => new()
    {
        Name = "prob",
        Type = "Softmax",
        Phase = Phase.Train,
        SoftmaxParam = stable is bool s ? new SoftmaxParameter { StableGradient = s } : null,
    };

    /// <summary>Softmax then a loss on its output, run as one layer (forward and backward in order), so the gradient checker sees the scores.</summary>
    private sealed class Chain : Layer
    {
        private readonly Layer _softmax, _loss;
        private readonly Blob _prob = new("prob");

        public Chain(Layer softmax, Layer loss) : base(new LayerParameter { Name = "chain", Type = "Chain" }) => (_softmax, _loss) = (softmax, loss);

        public Blob Prob => _prob;

        public override void LayerSetUp(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
        {
            _softmax.SetUp([bottom[0]], [_prob]);
            _loss.SetUp([_prob, bottom[1]], top);
        }

        public override void Reshape(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
        {
            _softmax.Reshape([bottom[0]], [_prob]);
            _loss.Reshape([_prob, bottom[1]], top);
        }

        public override void Forward(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
        {
            _softmax.Forward([bottom[0]], [_prob]);
            _loss.Forward([_prob, bottom[1]], top);
        }

        public override void Backward(IReadOnlyList<Blob> top, IReadOnlyList<bool> propagateDown, IReadOnlyList<Blob> bottom)
        {
            if (!propagateDown[0]) return;
            _loss.Backward(top, Down(true, false), [_prob, bottom[1]]);
            _softmax.Backward([_prob], Down(true), [bottom[0]]);
        }
    }

    /// <summary>The stable pair: a Softmax switched to pass-through, as the net does, feeding the stable loss.</summary>
    private static Chain StablePair(int? ignore = null, float[]? weights = null)
    {
        var softmax = LayerRegistry.Create(Softmax());
        ((IStableGradientSoftmax)softmax).PassThrough = true;
        return new Chain(softmax, LayerRegistry.Create(Loss(Mode.MultinomialLogisticStableSoftmax, ignore, weights)));
    }

    /// <summary>The naive pair: an exact-Jacobian Softmax feeding −1/p.</summary>
    private static Chain NaivePair(int? ignore = null, float[]? weights = null) =>
        new(LayerRegistry.Create(Softmax(stable: false)), LayerRegistry.Create(Loss(Mode.MultinomialLogistic, ignore, weights)));

    private static (float loss, float[] grad) Run(Layer layer, Blob scores, Blob labels, float lossWeight = 1)
    {
        var top = new[] { new Blob("loss") };
        layer.SetUp([scores, labels], top);
        layer.Forward([scores, labels], top);
        top[0].Diff[0] = lossWeight;
        scores.Diff.Fill(float.NaN);
        layer.Backward(top, Down(true, false), [scores, labels]);
        return (top[0].Data[0], scores.Diff.ToArray());
    }

    [TestCase(null, 1f)]
    [TestCase(3, 0.5f)]
    public void StablePairingMatchesSoftmaxWithLossAndTheNaivePair(int? ignore, float lossWeight)
    {
        var scores = TestData.Random("scores", [3, 5, 2, 2], lo: -3, hi: 3);
        var labels = Labels("labels", [3, 1, 2, 2], 5);
        var lp = new LossParameter();
        if (ignore is int i) lp.IgnoreLabel = i;
        var fused = Run(LayerRegistry.Create(SoftmaxWithLossLayerTests.SoftmaxWithLoss(lp)), scores, labels, lossWeight);
        var stable = Run(StablePair(ignore), scores, labels, lossWeight);
        var naive = Run(NaivePair(ignore), scores, labels, lossWeight);

        Assert.That(stable.loss, Is.EqualTo(fused.loss).Within(1e-6));
        Assert.That(naive.loss, Is.EqualTo(fused.loss).Within(1e-6));
        Assert.That(stable.grad, Is.EqualTo(fused.grad).Within(1e-5));
        Assert.That(naive.grad, Is.EqualTo(fused.grad).Within(1e-5));
    }

    [Test]
    public void ExtremeScoresStayFiniteOnTheStablePath()
    {
        // p(label 1) = e^−200 underflows to 0 in float: the fused gradient is still exactly
        // p − onehot = (1, −1), while −1/max(p, FLT_MIN) times the Jacobian loses it.
        var scores = TestData.FromValues("scores", [2, 2], 100f, -100f, -100f, 100f);
        var labels = TestData.FromValues("labels", [2], 1, 1);
        var stable = Run(StablePair(), scores, labels);
        Assert.That(stable.grad, Has.All.Matches<float>(float.IsFinite));
        // normalizer = 2 valid positions
        Assert.That(stable.grad, Is.EqualTo(new[] { 0.5f, -0.5f, 0f, 0f }).Within(1e-7));
        // loss: −log(max(0, FLT_MIN)) / 2 for the first position, ~0 for the second.
        Assert.That(stable.loss, Is.EqualTo(-Math.Log(1.17549435e-38) / 2).Within(1e-3));

        var naive = Run(NaivePair(), scores, labels);
        bool wrong = !naive.grad.Zip(stable.grad).All(g => float.IsFinite(g.First) && Math.Abs(g.First - g.Second) < 1e-3);
        Assert.That(wrong, Is.True, "the naive pair cannot recover p − onehot once p underflows");
    }

    [Test]
    public void StableModeGradientCheckThroughThePair()
    {
        var scores = TestData.Random("scores", [2, 4, 3], lo: -2, hi: 2);
        var labels = Labels("labels", [2, 3], 4);
        var pair = StablePair();
        var top = new[] { new Blob("loss") };
        pair.SetUp([scores, labels], top);
        new GradientChecker(1e-2f, 1e-2f).Check(pair, [scores, labels], top, checkBottoms: [0]);
    }

    [Test]
    public void NaiveModeGradientOnProbabilities()
    {
        var probs = TestData.Random("prob", [3, 4, 2], lo: 0.2f, hi: 1f);
        var labels = Labels("labels", [3, 2], 4);
        var (layer, top) = SetUp(Loss(Mode.MultinomialLogistic), [probs, labels]);
        new GradientChecker(1e-3f, 1e-2f).Check(layer, [probs, labels], top, checkBottoms: [0]);
    }

    [Test]
    public void ForwardIsTheLogLossOfTheProbabilities()
    {
        var probs = TestData.FromValues("prob", [2, 3], 0.2f, 0.3f, 0.5f, 0.6f, 0.1f, 0.3f);
        var labels = TestData.FromValues("labels", [2], 2, 0);
        foreach (var mode in new[] { Mode.MultinomialLogisticStableSoftmax, Mode.MultinomialLogistic })
        {
            var (layer, top) = SetUp(Loss(mode), [probs, labels]);
            layer.Forward([probs, labels], top);
            Assert.That(top[0].Data[0], Is.EqualTo(-(Math.Log(0.5) + Math.Log(0.6)) / 2).Within(1e-6), mode.ToString());
            top[0].Diff[0] = 1;
            layer.Backward(top, Down(true, false), [probs, labels]);
            float[] expected = mode == Mode.MultinomialLogistic
                ? [0, 0, (float)(-0.5 / 0.5), (float)(-0.5 / 0.6), 0, 0]
                : [0.1f, 0.15f, -0.25f, -0.2f, 0.05f, 0.15f];
            Assert.That(probs.Diff.ToArray(), Is.EqualTo(expected).Within(1e-6), mode.ToString());
        }
    }

    [Test]
    public void ClassWeightsScaleEachItemsLossAndGradient()
    {
        var probs = TestData.FromValues("prob", [2, 3], 0.2f, 0.3f, 0.5f, 0.6f, 0.1f, 0.3f);
        var labels = TestData.FromValues("labels", [2], 2, 0);
        float[] w = [4f, 1f, 0.5f];
        var (layer, top) = SetUp(Loss(Mode.MultinomialLogisticStableSoftmax, classWeights: w), [probs, labels]);
        layer.Forward([probs, labels], top);
        // normalizer VALID = 2 positions (weights do not change the count)
        Assert.That(top[0].Data[0], Is.EqualTo(-(0.5 * Math.Log(0.5) + 4 * Math.Log(0.6)) / 2).Within(1e-6));
        top[0].Diff[0] = 1;
        layer.Backward(top, Down(true, false), [probs, labels]);
        Assert.That(probs.Diff.ToArray(), Is.EqualTo(new[] { 0.05f, 0.075f, -0.125f, -0.8f, 0.2f, 0.6f }).Within(1e-6));

        // The same weights through either pair give the same score gradient.
        var scores = TestData.Random("scores", [3, 3, 2], lo: -2, hi: 2);
        var l = Labels("l", [3, 2], 3);
        var stable = Run(StablePair(weights: w), scores, l);
        var naive = Run(NaivePair(weights: w), scores, l);
        Assert.That(stable.loss, Is.EqualTo(naive.loss).Within(1e-6));
        Assert.That(stable.grad, Is.EqualTo(naive.grad).Within(1e-5));
    }

    [Test]
    public void WrongNumberOfClassWeightsIsAnError()
    {
        var e = Assert.Throws<EngineException>(() => SetUp(Loss(Mode.MultinomialLogistic, classWeights: [1, 2]), [new Blob("p", 2, 3), new Blob("l", 2)]))!;
        Assert.That(e.Message, Does.Contain("\"loss\"").And.Contain("2 class_weight values for 3 classes"));
    }

    [Test]
    public void ImplementsTheStableLossInterface()
    {
        Assert.That(((IStableSoftmaxLoss)LayerRegistry.Create(Loss(Mode.MultinomialLogisticStableSoftmax))).ExpectsStableSoftmax, Is.True);
        var (naive, _) = SetUp(Loss(Mode.MultinomialLogistic), [new Blob("p", 2, 3), new Blob("l", 2)]);
        Assert.That(((IStableSoftmaxLoss)naive).ExpectsStableSoftmax, Is.False);
        Assert.That(naive.IsLoss, Is.True);
        Assert.That(naive.AllowForceBackward(1), Is.False);
    }

    [Test]
    public void ModeIsRequired()
    {
        var e = Assert.Throws<EngineException>(() => SetUp(Loss(null), [new Blob("p", 2, 3), new Blob("l", 2)]))!;
        Assert.That(e.Message, Does.Contain("\"loss\"").And.Contain("mode"));
    }

    [Test]
    public void LabelErrorsAndLabelGradient()
    {
        var probs = TestData.FromValues("prob", [2, 3], 0.2f, 0.3f, 0.5f, 0.6f, 0.1f, 0.3f);
        var labels = TestData.FromValues("labels", [2], 3, 0);
        var (layer, top) = SetUp(Loss(Mode.MultinomialLogistic), [probs, labels]);
        var e = Assert.Throws<EngineException>(() => layer.Forward([probs, labels], top))!;
        Assert.That(e.Message, Does.Contain("\"loss\"").And.Contain("label 3").And.Contain("index 0"));
        labels.Data[0] = 1;
        layer.Forward([probs, labels], top);
        e = Assert.Throws<EngineException>(() => layer.Backward(top, Down(true, true), [probs, labels]))!;
        Assert.That(e.Message, Does.Contain("labels"));
        e = Assert.Throws<EngineException>(() => LayerRegistry.Create(Loss(Mode.MultinomialLogistic)).SetUp([probs], [new Blob("t")]))!;
        Assert.That(e.Message, Does.Contain("2 bottoms").And.Contain("got 1"));
    }

    [Test]
    public void IgnoredPositionsGetNoGradient()
    {
        var probs = TestData.FromValues("prob", [2, 3], 0.2f, 0.3f, 0.5f, 0.6f, 0.1f, 0.3f);
        var labels = TestData.FromValues("labels", [2], 255, 0);
        foreach (var mode in new[] { Mode.MultinomialLogisticStableSoftmax, Mode.MultinomialLogistic })
        {
            var (layer, top) = SetUp(Loss(mode, ignore: 255), [probs, labels]);
            layer.Forward([probs, labels], top);
            Assert.That(top[0].Data[0], Is.EqualTo(-Math.Log(0.6)).Within(1e-6));
            top[0].Diff[0] = 1;
            layer.Backward(top, Down(true, false), [probs, labels]);
            Assert.That(probs.Diff[..3].ToArray(), Has.All.EqualTo(0f), mode.ToString());
        }
    }
}
