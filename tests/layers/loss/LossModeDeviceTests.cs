using Engine.Core;
using Engine.Proto;
using Engine.Tests.Support;
using NUnit.Framework;
using Mode = Engine.Proto.LossParameter.Types.LossMode;
using Norm = Engine.Proto.LossParameter.Types.NormalizationMode;

namespace Engine.Tests.Layers.Loss;

/// <summary>
/// The generic `Loss` layer's device code against its host code, mode by mode
/// (<see cref="DeviceLayerCheck"/>): with and without the optional weight bottom (per label or per
/// element), class_weight, ignore_label for the label modes and several normalizations. Labels,
/// targets, H and weights get no gradient.
/// </summary>
[TestFixtureSource(typeof(DeviceLayerCheck), nameof(DeviceLayerCheck.BackendNames))]
public class LossModeDeviceTests(string backend)
{
    /// <summary>What the optional last bottom holds: nothing, one weight per label (position or pair), or one per prediction element.</summary>
    public enum W { None, PerLabel, PerElement }

    private static Func<int, int, float[]> Inputs(params Func<Rng, int, float[]>[] bottoms)
    {
        var rng = new Rng(7);
        return (b, count) => bottoms[b](rng, count);
    }

    private static Func<Rng, int, float[]> Uniform(float lo, float hi) => (rng, n) => DeviceLayerCheck.Uniform(rng, n, lo, hi);

    /// <summary>Integer labels in [0, classes); about a quarter are <paramref name="ignore"/> when given.</summary>
    private static Func<Rng, int, float[]> Labels(int classes, int? ignore = null) => (rng, n) =>
    {
        var v = new float[n];
        for (int i = 0; i < n; i++) v[i] = ignore is int g && rng.NextInt(4) == 0 ? g : rng.NextInt(classes);
        return v;
    };

    private static LayerParameter Layer(Mode mode, int? ignore, Norm? norm, float[]? classWeights)
    {
        var lp = new LossParameter { Mode = mode };
        if (ignore is int g) lp.IgnoreLabel = g;
        if (norm is Norm m) lp.Normalization = m;
        if (classWeights != null) lp.ClassWeight.AddRange(classWeights);
        return new LayerParameter { Name = "loss", Type = "Loss", LossParam = lp };
    }

    /// <summary>Runs the check with the given required bottoms, plus a weight bottom of <paramref name="w"/>; only bottom 0 (and 1 when <paramref name="backward1"/>) gets a gradient.</summary>
    private void Check(LayerParameter p, int[][] shapes, Func<Rng, int, float[]>[] inputs, W w, int[] prediction, int[] label, bool backward1 = false)
    {
        if (w != W.None)
        {
            shapes = [.. shapes, w == W.PerLabel ? label : prediction];
            inputs = [.. inputs, Uniform(0, 2)];
        }
        DeviceLayerCheck.Compare(backend, p, shapes,
            new() { Input = Inputs(inputs), PropagateDown = [.. Enumerable.Range(0, shapes.Length).Select(i => i == 0 || (i == 1 && backward1))] });
    }

    private static readonly float[] FourClasses = [0.5f, 2f, 1f, 3f];

    // ---- label modes: (5, 4, 3), 4 classes along axis 1, 5·3 labels ------------------------

    [TestCase(Mode.MultinomialLogisticStableSoftmax, null, null, W.None, false)]
    [TestCase(Mode.MultinomialLogisticStableSoftmax, 2, Norm.Valid, W.PerLabel, true)]
    [TestCase(Mode.MultinomialLogisticStableSoftmax, 0, Norm.Full, W.PerElement, false)]
    [TestCase(Mode.MultinomialLogistic, null, null, W.None, false)]
    [TestCase(Mode.MultinomialLogistic, 1, Norm.BatchSize, W.PerLabel, false)]
    [TestCase(Mode.MultinomialLogistic, 3, Norm.None, W.PerElement, true)]
    public void Multinomial(Mode mode, int? ignore, Norm? norm, W w, bool classWeights)
    {
        // Bottom 0 holds probabilities (a Softmax's output): an input range (0.05, 1).
        var p = Layer(mode, ignore, norm, classWeights ? FourClasses : null);
        int[] prediction = [5, 4, 3], label = [5, 3];
        Check(p, [prediction, label], [Uniform(0.05f, 1), Labels(4, ignore)], w, prediction, label);
    }

    [TestCase(Mode.HingeL1, null, null, W.None, false)]
    [TestCase(Mode.HingeL1, 2, Norm.Valid, W.PerLabel, true)]
    [TestCase(Mode.HingeL1, null, Norm.Full, W.PerElement, false)]
    [TestCase(Mode.HingeL2, null, null, W.None, true)]
    [TestCase(Mode.HingeL2, 0, Norm.BatchSize, W.PerElement, true)]
    [TestCase(Mode.HingeL2, 3, Norm.None, W.PerLabel, false)]
    public void Hinge(Mode mode, int? ignore, Norm? norm, W w, bool classWeights)
    {
        var p = Layer(mode, ignore, norm, classWeights ? FourClasses : null);
        int[] prediction = [5, 4, 3], label = [5, 3];
        Check(p, [prediction, label], [Uniform(-2, 2), Labels(4, ignore)], w, prediction, label);
    }

    [TestCase(null, null, W.None, false, 1)]
    [TestCase(2, Norm.Valid, W.None, true, 1)]
    [TestCase(1, Norm.Full, W.PerLabel, false, 1)]
    [TestCase(null, Norm.BatchSize, W.PerElement, true, 1)]
    [TestCase(0, null, W.PerElement, false, 2)]
    public void Infogain(int? ignore, Norm? norm, W w, bool classWeights, int axis)
    {
        // (5, 4, 3): axis 1 → 4 classes, 5·3 labels; axis 2 → 3 classes, 5·4 labels. H is bottom 2.
        int[] prediction = [5, 4, 3], label = axis == 1 ? [5, 3] : [5, 4];
        int classes = prediction[axis];
        var p = Layer(Mode.Infogain, ignore, norm, classWeights ? FourClasses[..classes] : null);
        p.InfogainLossParam = new InfogainLossParameter { Axis = axis };
        Check(p, [prediction, label, [classes, classes]], [Uniform(-3, 3), Labels(classes, ignore), Uniform(0, 1)], w, prediction, label);
    }

    // ---- elementwise modes: (4, 3, 2, 5) prediction and target ------------------------------

    [TestCase(Mode.EuclideanSse, null, false)]
    [TestCase(Mode.EuclideanSse, Norm.Valid, true)]
    [TestCase(Mode.EuclideanSse, Norm.Full, false)]
    [TestCase(Mode.SmoothL1, null, false)]
    [TestCase(Mode.SmoothL1, Norm.None, true)]
    [TestCase(Mode.SmoothL1, Norm.Valid, true)]
    public void Regression(Mode mode, Norm? norm, bool weights)
    {
        var p = Layer(mode, null, norm, null);
        if (mode == Mode.SmoothL1) p.SmoothL1LossParam = new SmoothL1LossParameter { Sigma = 2f };
        int[] shape = [4, 3, 2, 5];
        Check(p, [shape, shape], [Uniform(-1, 1), Uniform(-1, 1)], weights ? W.PerElement : W.None, shape, shape, backward1: true);
    }

    [Test]
    public void RegressionTargetGradientOnly()
    {
        var p = Layer(Mode.EuclideanSse, null, null, null);
        DeviceLayerCheck.Compare(backend, p, [[6, 4], [6, 4]], new() { PropagateDown = [false, true] });
    }

    [TestCase(null, null, false, false)]
    [TestCase(-1, Norm.Valid, false, true)]
    [TestCase(-1, Norm.Full, true, false)]
    [TestCase(null, Norm.None, true, true)]
    public void SigmoidCrossEntropy(int? ignore, Norm? norm, bool weights, bool classWeights)
    {
        // class_weight is per channel here (3 channels).
        var p = Layer(Mode.SigmoidCrossEntropy, ignore, norm, classWeights ? [2f, 0.5f, 1.5f] : null);
        Func<Rng, int, float[]> targets = (rng, n) =>
            Enumerable.Range(0, n).Select(_ => ignore is int g && rng.NextInt(5) == 0 ? g : rng.NextFloat()).ToArray();
        int[] shape = [4, 3, 5];
        Check(p, [shape, shape], [Uniform(-6, 6), targets], weights ? W.PerElement : W.None, shape, shape);
    }

    // ---- Contrastive: a, b (16 × 5), similarity y ------------------------------------------

    [TestCase(false, 2f, null, false, false)]
    [TestCase(true, 4f, null, false, false)]
    [TestCase(false, 2f, Norm.Full, true, false)]
    [TestCase(false, 2f, Norm.None, false, true)]
    [TestCase(true, 4f, Norm.Valid, true, true)]
    public void Contrastive(bool legacy, float margin, Norm? norm, bool weights, bool classWeights)
    {
        // class_weight: (dissimilar, similar); the weights: one per pair.
        var p = Layer(Mode.Contrastive, null, norm, classWeights ? [0.5f, 2f] : null);
        p.LossParam.Margin = margin;
        p.ContrastiveLossParam = new ContrastiveLossParameter { LegacyVersion = legacy };
        int[] features = [16, 5], pairs = [16];
        Check(p, [features, features, pairs], [Uniform(-1, 1), Uniform(-1, 1), Labels(2)], weights ? W.PerLabel : W.None, features, pairs, backward1: true);
    }
}
