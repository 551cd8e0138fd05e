using Engine.Backends;
using Engine.Core;
using Engine.Proto;

namespace Engine.Layers;

/// <summary>
/// Softmax followed by the multinomial log loss, fused as in Caffe: bottom 0 = scores
/// (outer × C × inner along softmax_param.axis), bottom 1 = labels. loss =
/// −Σ log(max(p_label, FLT_MIN)) / normalizer, and the gradient is written directly as
/// (p − onehot)·loss_weight/normalizer, which never divides by p. An optional second top
/// receives the probabilities. See <see cref="LabelLossLayer"/> for ignore_label and normalization.
/// Extension: an optional third bottom of weights, C values (one per class along the axis) or one
/// per score; a position's loss and its whole gradient are multiplied by the weight of its label's
/// element (per class: the weight of its label). No gradient to the labels or the weights.
/// </summary>
[LayerType("SoftmaxWithLoss")]
public sealed class SoftmaxWithLossLayer : LabelLossLayer
{
    private readonly Blob _prob = new("prob");
    private float[] _scratch = [];

    public SoftmaxWithLossLayer(LayerParameter param) : base(param) { }

    public override int ExactBottoms => -1;
    public override int MinBottoms => 2;
    public override int MaxBottoms => 3;
    public override int MaxTops => 2;
    public override bool AllowForceBackward(int bottomIndex) => bottomIndex == 0;
    public override bool CanBackward(int bottomIndex) => bottomIndex == 0;

    private LossWeights? Weights(IReadOnlyList<Blob> bottom) =>
        bottom.Count < 3 ? null : LossWeights.FromBottom(bottom[2], bottom[0], Channels, Inner, perChannel: true, perPosition: false, Error);

    public override void Reshape(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        base.Reshape(bottom, top);
        _prob.ReshapeLike(bottom[0]);
        SoftmaxLayer.EnsureScratch(ref _scratch, Inner);
        Weights(bottom);
        if (top.Count > 1)
        {
            top[1].ReshapeLike(bottom[0]);
            top[1].ShareData(_prob);
        }
    }

    public override void Forward(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        SoftmaxLayer.Compute(bottom[0].Data, _prob.Data, Outer, Channels, Inner, _scratch);
        double loss = NegLogLikelihood(_prob.Data, bottom[1].Data, Weights(bottom));
        top[0].Data[0] = (float)(loss / Normalizer(ValidCount));
    }

    public override void Backward(IReadOnlyList<Blob> top, IReadOnlyList<bool> propagateDown, IReadOnlyList<Blob> bottom)
    {
        CheckNoLabelGradient(propagateDown, bottom);
        if (propagateDown.Count > 2 && propagateDown[2])
            throw Error($"cannot back-propagate to the weights \"{bottom[2].Name}\" (bottom 2)");
        if (!propagateDown[0]) return;
        FusedGradient(_prob.Data, bottom[1].Data, bottom[0].Diff, GradientScale(top[0]), Weights(bottom));
    }

    // ---- device code: softmax, per-position log loss, one reduction; the fused gradient ----

    public override bool RunsOnDevice => true;

    /// <summary>The weights on the backend: class_weight and the optional third bottom (per element or per class, as <see cref="Weights"/> reads it).</summary>
    private LossWeighting WeightingOn(IBackend backend, IReadOnlyList<Blob> bottom)
    {
        var cw = Scratch.ClassWeights(backend, ClassWeights);
        if (bottom.Count < 3) return new(null, LossWeightKind.None, Channels, Inner, cw);
        var kind = bottom[2].Count == bottom[0].Count ? LossWeightKind.Element : LossWeightKind.Channel;
        return new(bottom[2].DataOn(backend), kind, Channels, Inner, cw);
    }

    public override void ForwardOn(IBackend backend, IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        CheckLabelsOnHost(bottom[1]);
        var prob = _prob.MutableDataOn(backend);
        backend.SoftmaxForward(Outer, Channels, Inner, bottom[0].DataOn(backend), prob);
        int positions = Outer * Inner;
        BufferView losses = Scratch.Losses(backend, positions), counts = Scratch.Counts(backend, positions);
        backend.NllForward(Outer, Channels, Inner, prob, bottom[1].DataOn(backend), IgnoreOrNull, FltMin, WeightingOn(backend, bottom), losses, counts);
        ReduceOn(backend, losses, counts, top[0]);
    }

    public override void BackwardOn(IBackend backend, IReadOnlyList<Blob> top, IReadOnlyList<bool> propagateDown, IReadOnlyList<Blob> bottom)
    {
        CheckNoLabelGradient(propagateDown, bottom);
        if (propagateDown.Count > 2 && propagateDown[2])
            throw Error($"cannot back-propagate to the weights \"{bottom[2].Name}\" (bottom 2)");
        if (!propagateDown[0]) return;
        backend.SoftmaxLossBackward(Outer, Channels, Inner, _prob.DataOn(backend), bottom[1].DataOn(backend), IgnoreOrNull,
            WeightingOn(backend, bottom), top[0].DiffOn(backend), Scratch.Normalizer(backend), bottom[0].MutableDiffOn(backend));
    }
}
