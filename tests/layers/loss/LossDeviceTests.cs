using Engine.Core;
using Engine.Proto;
using Engine.Tests.Support;
using NUnit.Framework;
using Norm = Engine.Proto.LossParameter.Types.NormalizationMode;

namespace Engine.Tests.Layers.Loss;

/// <summary>
/// The loss layers' device code against their host code (<see cref="DeviceLayerCheck"/>): labels
/// are whole numbers (some equal to the ignore label where one is set), the loss weight reaches
/// backward as the top's random diff, and label bottoms get no gradient.
/// </summary>
[TestFixtureSource(typeof(DeviceLayerCheck), nameof(DeviceLayerCheck.BackendNames))]
public class LossDeviceTests(string backend)
{
    private static LayerParameter P(string type) => new() { Name = type.ToLowerInvariant(), Type = type };

    /// <summary>Per-bottom generators sharing one Rng, so each round gets fresh values.</summary>
    private static Func<int, int, float[]> Inputs(params Func<Rng, int, float[]>[] bottoms)
    {
        var rng = new Rng(99);
        return (b, count) => bottoms[b](rng, count);
    }

    private static Func<Rng, int, float[]> Uniform(float lo = -1, float hi = 1) => (rng, n) => DeviceLayerCheck.Uniform(rng, n, lo, hi);

    /// <summary>Integer labels in [0, classes); about a quarter are <paramref name="ignore"/> when given.</summary>
    private static Func<Rng, int, float[]> Labels(int classes, int? ignore = null) => (rng, n) =>
    {
        var v = new float[n];
        for (int i = 0; i < n; i++) v[i] = ignore is int g && rng.NextInt(4) == 0 ? g : rng.NextInt(classes);
        return v;
    };

    private static LossParameter Loss(int? ignore, Norm? norm, bool? normalize = null)
    {
        var lp = new LossParameter();
        if (ignore is int g) lp.IgnoreLabel = g;
        if (norm is Norm m) lp.Normalization = m;
        if (normalize is bool b) lp.Normalize = b;
        return lp;
    }

    // ---- SoftmaxWithLoss -------------------------------------------------------------------

    [TestCase(null, null, null)]
    [TestCase(3, null, null)]
    [TestCase(-1, null, null)]
    [TestCase(null, Norm.Full, null)]
    [TestCase(3, Norm.Full, null)]
    [TestCase(3, Norm.Valid, null)]
    [TestCase(3, Norm.BatchSize, null)]
    [TestCase(3, Norm.None, null)]
    [TestCase(3, null, true)]
    [TestCase(3, null, false)]
    public void SoftmaxWithLoss(int? ignore, Norm? norm, bool? normalize)
    {
        var p = P("SoftmaxWithLoss");
        p.LossParam = Loss(ignore, norm, normalize);
        DeviceLayerCheck.Compare(backend, p, [[13, 7], [13]],
            new() { Input = Inputs(Uniform(-4, 4), Labels(7, ignore)), PropagateDown = [true, false] });
    }

    [TestCase(1, null)]
    [TestCase(1, 2)]
    [TestCase(2, null)]
    [TestCase(2, 0)]
    [TestCase(-1, 1)]
    public void SoftmaxWithLossSpatial(int axis, int? ignore)
    {
        // (2, 4, 3, 5): axis 1 → 4 classes, 2·15 labels; axis 2 → 3 classes, 8·5 labels; axis −1 → 5 classes, 24 labels.
        int[] shape = [2, 4, 3, 5];
        int a = axis < 0 ? axis + 4 : axis;
        int classes = shape[a];
        int[] labels = [.. shape.Take(a), .. shape.Skip(a + 1)];
        var p = P("SoftmaxWithLoss");
        p.SoftmaxParam = new SoftmaxParameter { Axis = axis };
        p.LossParam = Loss(ignore, Norm.Valid);
        DeviceLayerCheck.Compare(backend, p, [shape, labels],
            new() { Input = Inputs(Uniform(-4, 4), Labels(classes, ignore)), PropagateDown = [true, false] });
    }

    [Test]
    public void SoftmaxWithLossSecondTopIsTheProbabilities()
    {
        var p = P("SoftmaxWithLoss");
        p.LossParam = Loss(1, Norm.Valid);
        DeviceLayerCheck.Compare(backend, p, [[6, 5, 2], [6, 2]],
            new() { Tops = 2, Input = Inputs(Uniform(-4, 4), Labels(5, 1)), PropagateDown = [true, false] });
    }

    [Test]
    public void SoftmaxWithLossWithoutGradient()
    {
        var p = P("SoftmaxWithLoss");
        DeviceLayerCheck.Compare(backend, p, [[6, 5], [6]],
            new() { Input = Inputs(Uniform(-4, 4), Labels(5)), PropagateDown = [false, false] });
    }

    [TestCase(false, 5)]
    [TestCase(true, 5)]
    [TestCase(true, 5 * 7 * 2)]
    public void SoftmaxWithLossWeights(bool classWeights, int weightCount)
    {
        // class_weight from loss_param and a third bottom of weights, per class (C) or per score.
        var p = P("SoftmaxWithLoss");
        p.LossParam = Loss(4, Norm.Valid);
        if (classWeights) p.LossParam.ClassWeight.AddRange([0.5f, 2f, 1f, 3f, 0.25f]);
        DeviceLayerCheck.Compare(backend, p, [[7, 5, 2], [7, 2], [weightCount]],
            new() { Input = Inputs(Uniform(-4, 4), Labels(5, 4), Uniform(0, 2)), PropagateDown = [true, false, false] });
    }

    // ---- Accuracy --------------------------------------------------------------------------

    [TestCase(1, 1, null, 1)]
    [TestCase(3, 1, null, 1)]
    [TestCase(1, 1, 2, 2)]
    [TestCase(3, 1, 0, 2)]
    [TestCase(1, 2, null, 2)]
    [TestCase(3, 2, 1, 2)]
    public void Accuracy(int topK, int axis, int? ignore, int tops)
    {
        // (5, 6, 4): axis 1 → 6 classes, 5·4 labels; axis 2 → 4 classes, 5·6 labels.
        int[] shape = [5, 6, 4];
        int classes = shape[axis];
        int[] labels = axis == 1 ? [5, 4] : [5, 6];
        var p = P("Accuracy");
        p.AccuracyParam = new AccuracyParameter { TopK = (uint)topK, Axis = axis };
        if (ignore is int g) p.AccuracyParam.IgnoreLabel = g;
        DeviceLayerCheck.Compare(backend, p, [shape, labels],
            new() { Tops = tops, ForwardOnly = true, Input = Inputs(Uniform(), Labels(classes, ignore)) });
    }

    [TestCase(1)]
    [TestCase(3)]
    public void AccuracyTiesFavourTheLabel(int topK)
    {
        // Scores from {0, 1, 2}: many ties with the label's score.
        var p = P("Accuracy");
        p.AccuracyParam = new AccuracyParameter { TopK = (uint)topK };
        Func<Rng, int, float[]> coarse = (rng, n) => Enumerable.Range(0, n).Select(_ => (float)rng.NextInt(3)).ToArray();
        DeviceLayerCheck.Compare(backend, p, [[40, 6], [40]],
            new() { Tops = 2, ForwardOnly = true, Input = Inputs(coarse, Labels(6)) });
    }

    // ---- elementwise losses ----------------------------------------------------------------

    [TestCase(0)]
    [TestCase(3)]
    [TestCase(4 * 3 * 2 * 5)]
    public void EuclideanLoss(int weights)
    {
        int[][] shapes = weights == 0 ? [[4, 3, 2, 5], [4, 3, 2, 5]] : [[4, 3, 2, 5], [4, 3, 2, 5], [weights]];
        DeviceLayerCheck.Compare(backend, P("EuclideanLoss"), shapes,
            new() { Input = Inputs(Uniform(), Uniform(), Uniform(0, 2)), PropagateDown = weights == 0 ? [true, true] : [true, true, false] });
    }

    [Test]
    public void EuclideanLossOneSide() =>
        DeviceLayerCheck.Compare(backend, P("EuclideanLoss"), [[6, 4], [6, 4]], new() { PropagateDown = [false, true] });

    [TestCase(null, null)]
    [TestCase(-1, null)]
    [TestCase(-1, Norm.Valid)]
    [TestCase(-1, Norm.Full)]
    [TestCase(null, Norm.None)]
    public void SigmoidCrossEntropyLoss(int? ignore, Norm? norm)
    {
        var p = P("SigmoidCrossEntropyLoss");
        p.LossParam = Loss(ignore, norm);
        Func<Rng, int, float[]> targets = (rng, n) =>
            Enumerable.Range(0, n).Select(_ => ignore is int g && rng.NextInt(5) == 0 ? g : rng.NextFloat()).ToArray();
        DeviceLayerCheck.Compare(backend, p, [[4, 3, 5], [4, 3, 5]],
            new() { Input = Inputs(Uniform(-6, 6), targets), PropagateDown = [true, false] });
    }

    [TestCase(3)]
    [TestCase(4 * 3 * 5)]
    public void SigmoidCrossEntropyLossWeights(int weights)
    {
        var p = P("SigmoidCrossEntropyLoss");
        p.LossParam = Loss(null, Norm.Full);
        p.LossParam.ClassWeight.AddRange([2f, 0.5f, 1.5f]);
        DeviceLayerCheck.Compare(backend, p, [[4, 3, 5], [4, 3, 5], [weights]],
            new() { Input = Inputs(Uniform(-6, 6), Uniform(0, 1), Uniform(0, 2)), PropagateDown = [true, false, false] });
    }

    [TestCase(1f, 2)]
    [TestCase(2f, 2)]
    [TestCase(0.5f, 3)]
    [TestCase(1f, 4)]
    public void SmoothL1Loss(float sigma, int bottoms)
    {
        var p = P("SmoothL1Loss");
        p.SmoothL1LossParam = new SmoothL1LossParameter { Sigma = sigma };
        int[] shape = [3, 4, 2, 3];
        DeviceLayerCheck.Compare(backend, p, Enumerable.Repeat(shape, bottoms).ToArray(),
            new() { Input = Inputs(Uniform(-2, 2), Uniform(-2, 2), Uniform(0, 2), Uniform(0, 2)), PropagateDown = [.. Enumerable.Range(0, bottoms).Select(i => i < 2)] });
    }

    [TestCase(false, 2f)]
    [TestCase(true, 4f)]
    public void ContrastiveLoss(bool legacy, float margin)
    {
        var p = P("ContrastiveLoss");
        p.ContrastiveLossParam = new ContrastiveLossParameter { Margin = margin, LegacyVersion = legacy };
        DeviceLayerCheck.Compare(backend, p, [[16, 5, 1, 1], [16, 5, 1, 1], [16]],
            new() { Input = Inputs(Uniform(), Uniform(), Labels(2)), PropagateDown = [true, true, false] });
    }

    // ---- label losses without normalization options ----------------------------------------

    [TestCase("L1", 2)]
    [TestCase("L2", 2)]
    [TestCase("L1", 4)]
    public void HingeLoss(string norm, int axes)
    {
        var p = P("HingeLoss");
        p.HingeLossParam = new HingeLossParameter { Norm = norm == "L2" ? HingeLossParameter.Types.Norm.L2 : HingeLossParameter.Types.Norm.L1 };
        int[] shape = axes == 2 ? [9, 6] : [5, 3, 2, 2];
        DeviceLayerCheck.Compare(backend, p, [shape, [shape[0]]],
            new() { Input = Inputs(Uniform(-2, 2), Labels(shape.Skip(1).Aggregate(1, (x, y) => x * y))), PropagateDown = [true, false] });
    }

    [Test]
    public void MultinomialLogisticLoss()
    {
        // Probabilities in (0, 1), some below the 1e-20 floor.
        Func<Rng, int, float[]> prob = (rng, n) => Enumerable.Range(0, n).Select(_ => rng.NextInt(6) == 0 ? 1e-25f : 0.01f + rng.NextFloat()).ToArray();
        DeviceLayerCheck.Compare(backend, P("MultinomialLogisticLoss"), [[11, 4, 1, 1], [11]],
            new() { Input = Inputs(prob, Labels(4)), PropagateDown = [true, false] });
    }

    [TestCase(null, null, 1, 1)]
    [TestCase(2, Norm.Valid, 1, 2)]
    [TestCase(2, Norm.Full, 2, 1)]
    [TestCase(null, Norm.BatchSize, 2, 2)]
    public void InfogainLoss(int? ignore, Norm? norm, int axis, int tops)
    {
        // (3, 4, 5): axis 1 → 4 classes, 3·5 labels; axis 2 → 5 classes, 3·4 labels; H is bottom 2.
        int[] shape = [3, 4, 5];
        int classes = shape[axis];
        var p = P("InfogainLoss");
        p.InfogainLossParam = new InfogainLossParameter { Axis = axis };
        p.LossParam = Loss(ignore, norm);
        DeviceLayerCheck.Compare(backend, p, [shape, axis == 1 ? [3, 5] : [3, 4], [classes, classes]],
            new() { Tops = tops, Input = Inputs(Uniform(-3, 3), Labels(classes, ignore), Uniform(0, 1)), PropagateDown = [true, false, false] });
    }

    [Test]
    public void InfogainLossClassWeights()
    {
        var p = P("InfogainLoss");
        p.LossParam = Loss(null, null);
        p.LossParam.ClassWeight.AddRange([1f, 2f, 0.5f, 3f]);
        DeviceLayerCheck.Compare(backend, p, [[6, 4], [6], [4, 4]],
            new() { Input = Inputs(Uniform(-3, 3), Labels(4), Uniform(0, 1)), PropagateDown = [true, false, false] });
    }

    // ---- a reduction over many positions ---------------------------------------------------

    [Test]
    public void SoftmaxWithLossLargeBatch()
    {
        // 100,000 positions in one reduction (a work-group of up to 256 each summing ~400 losses).
        var p = P("SoftmaxWithLoss");
        p.LossParam = Loss(0, Norm.Valid);
        DeviceLayerCheck.Compare(backend, p, [[100, 10, 1000], [100, 1000]],
            new() { Input = Inputs(Uniform(-4, 4), Labels(10, 0)), PropagateDown = [true, false] });
    }
}
