using Engine.Backends;
using Engine.Core;
using Engine.Proto;

namespace Engine.Layers;

/// <summary>
/// Caffe's SigmoidCrossEntropyLoss: bottom 0 holds logits x, bottom 1 targets t in [0, 1] of the
/// same count. Each element adds the logistic loss −[t·log σ(x) + (1 − t)·log(1 − σ(x))],
/// computed stably as −x(t − [x ≥ 0]) + log(1 + e^(x − 2x[x ≥ 0])); its gradient is σ(x) − t.
/// loss_param: ignore_label (elements whose target, truncated to an integer, equals it add
/// nothing and get no gradient) and normalization, default BATCH_SIZE as in Caffe (FULL: every
/// element, VALID: the non-ignored elements, BATCH_SIZE: N, NONE: 1; `normalize` true = VALID).
/// Extensions: class_weight (one weight per channel, i.e. per class of a multi-label output) and
/// an optional third bottom of weights, C values (per channel, C = x's dimension 1) or one per
/// element of x; both multiply each element's loss and gradient. No gradient to the targets or
/// the weights.
/// </summary>
[LayerType("SigmoidCrossEntropyLoss")]
public sealed class SigmoidCrossEntropyLossLayer : LabelLossLayer
{
    private readonly Blob _grad = new("grad");

    public SigmoidCrossEntropyLossLayer(LayerParameter param) : base(param) { }

    public override int ExactBottoms => -1;
    public override int MinBottoms => 2;
    public override int MaxBottoms => 3;
    public override int MaxTops => 1;
    public override bool AllowForceBackward(int bottomIndex) => bottomIndex == 0;
    public override bool CanBackward(int bottomIndex) => bottomIndex == 0;

    protected override LossParameter.Types.NormalizationMode DefaultNormalization => LossParameter.Types.NormalizationMode.BatchSize;

    protected override long FullCount => (long)Outer * Channels * Inner;

    public override void Reshape(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        ShapeElementwise(bottom[0], bottom[1]);
        if (bottom.Count > 2) Weights(bottom);
        _grad.ReshapeLike(bottom[0]);
        top[0].Reshape([]);
    }

    private LossWeights? Weights(IReadOnlyList<Blob> bottom)
    {
        var fromBottom = bottom.Count > 2 ? LossWeights.FromBottom(bottom[2], bottom[0], Channels, Inner, perChannel: true, perPosition: false, Error) : null;
        return LossWeights.Of(ClassWeights, LossWeights.Kind.Channel, Channels, Inner, fromBottom);
    }

    /// <summary>
    /// Σ w·(logistic loss) over the elements whose target is not the ignore label;
    /// <paramref name="grad"/> receives w·(σ(x) − t), 0 at ignored elements; <paramref name="valid"/>
    /// counts the non-ignored elements.
    /// </summary>
    public static double Sum(ReadOnlySpan<float> x, ReadOnlySpan<float> t, bool hasIgnore, int ignoreLabel, LossWeights? weights, Span<float> grad, out int valid)
    {
        double loss = 0;
        valid = 0;
        for (int e = 0; e < x.Length; e++)
        {
            if (hasIgnore && (int)t[e] == ignoreLabel) { grad[e] = 0; continue; }
            double v = x[e], pos = v >= 0 ? 1 : 0;
            float w = LossWeights.At(weights, e);
            loss -= w * (v * (t[e] - pos) - Math.Log(1 + Math.Exp(v - 2 * v * pos)));
            double sigma = v >= 0 ? 1 / (1 + Math.Exp(-v)) : Math.Exp(v) / (1 + Math.Exp(v));
            grad[e] = (float)(w * (sigma - t[e]));
            valid++;
        }
        return loss;
    }

    public override void Forward(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        double loss = Sum(bottom[0].Data, bottom[1].Data, HasIgnoreLabel, IgnoreLabel, Weights(bottom), _grad.Data, out int valid);
        ValidCount = valid;
        top[0].Data[0] = (float)(loss / Normalizer(valid));
    }

    public override void Backward(IReadOnlyList<Blob> top, IReadOnlyList<bool> propagateDown, IReadOnlyList<Blob> bottom)
    {
        for (int i = 1; i < propagateDown.Count; i++)
            if (propagateDown[i]) throw Error($"cannot back-propagate to {(i == 1 ? "the targets" : "the weights")} \"{bottom[i].Name}\" (bottom {i})");
        if (!propagateDown[0]) return;
        System.Numerics.Tensors.TensorPrimitives.Multiply(_grad.Data, GradientScale(top[0]), bottom[0].Diff);
    }

    // ---- device code: per-element losses, counts and gradient, one reduction ---------------

    public override bool RunsOnDevice => true;

    public override void ForwardOn(IBackend backend, IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        Blob x = bottom[0];
        int n = (int)x.Count;
        var cw = Scratch.ClassWeights(backend, ClassWeights);
        var weights = bottom.Count > 2
            ? new LossWeighting(bottom[2].DataOn(backend), bottom[2].Count == x.Count ? LossWeightKind.Element : LossWeightKind.Channel, Channels, Inner, cw)
            : new LossWeighting(null, LossWeightKind.None, Channels, Inner, cw);
        BufferView losses = Scratch.Losses(backend, n), counts = Scratch.Counts(backend, n);
        backend.SigmoidCrossEntropyForward(x.DataOn(backend), bottom[1].DataOn(backend), IgnoreOrNull, weights, losses, counts, _grad.MutableDataOn(backend));
        ReduceOn(backend, losses, counts, top[0]);
    }

    public override void BackwardOn(IBackend backend, IReadOnlyList<Blob> top, IReadOnlyList<bool> propagateDown, IReadOnlyList<Blob> bottom)
    {
        for (int i = 1; i < propagateDown.Count; i++)
            if (propagateDown[i]) throw Error($"cannot back-propagate to {(i == 1 ? "the targets" : "the weights")} \"{bottom[i].Name}\" (bottom {i})");
        if (!propagateDown[0]) return;
        backend.LossScale(1f, _grad.DataOn(backend), top[0].DiffOn(backend), Scratch.Normalizer(backend), bottom[0].MutableDiffOn(backend));
    }
}
