using Engine.Core;
using Engine.Proto;

namespace Engine.Layers;

/// <summary>
/// Softmax followed by the multinomial log loss, fused as in Caffe: bottom 0 = scores
/// (outer × C × inner along softmax_param.axis), bottom 1 = labels. loss =
/// −Σ log(max(p_label, FLT_MIN)) / normalizer, and the gradient is written directly as
/// (p − onehot)·loss_weight/normalizer, which never divides by p. An optional second top
/// receives the probabilities. See <see cref="LabelLossLayer"/> for ignore_label and normalization.
/// </summary>
[LayerType("SoftmaxWithLoss")]
public sealed class SoftmaxWithLossLayer : LabelLossLayer
{
    private readonly Blob _prob = new("prob");
    private float[] _scratch = [];

    public SoftmaxWithLossLayer(LayerParameter param) : base(param) { }

    public override int MaxTops => 2;

    public override void Reshape(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        base.Reshape(bottom, top);
        _prob.ReshapeLike(bottom[0]);
        SoftmaxLayer.EnsureScratch(ref _scratch, Inner);
        if (top.Count > 1)
        {
            top[1].ReshapeLike(bottom[0]);
            top[1].ShareData(_prob);
        }
    }

    public override void Forward(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        SoftmaxLayer.Compute(bottom[0].Data, _prob.Data, Outer, Channels, Inner, _scratch);
        double loss = NegLogLikelihood(_prob.Data, bottom[1].Data);
        top[0].Data[0] = (float)(loss / Normalizer(ValidCount));
    }

    public override void Backward(IReadOnlyList<Blob> top, IReadOnlyList<bool> propagateDown, IReadOnlyList<Blob> bottom)
    {
        CheckNoLabelGradient(propagateDown, bottom);
        if (!propagateDown[0]) return;
        FusedGradient(_prob.Data, bottom[1].Data, bottom[0].Diff, GradientScale(top[0]));
    }
}
