using Engine.Core;
using Engine.Graph;
using Engine.Proto;

namespace Engine.Layers;

/// <summary>
/// Marvin's `Loss` layer, one type for several losses chosen by loss_param.mode. Two modes today,
/// both the multinomial log loss on probabilities (bottom 0, from a Softmax) against labels
/// (bottom 1): loss = −Σ log(max(p_label, FLT_MIN))·class_weight[label] / normalizer.
/// <list type="bullet">
/// <item>MultinomialLogistic_StableSoftmax: backward writes the fused (p − onehot)·scale into
/// bottom 0's gradient; the net pairs it with the producing Softmax (stable_gradient: true), which
/// then passes that gradient straight through — p − y without ever dividing by p.</item>
/// <item>MultinomialLogistic: backward writes −scale/max(p_label, FLT_MIN) at the label, 0
/// elsewhere; pairs with a Softmax with stable_gradient: false, which applies its Jacobian.</item>
/// </list>
/// Marvin's scale is loss_weight / number of loss elements; here the normalizer follows Caffe's
/// loss_param (ignore_label, normalization FULL/VALID/BATCH_SIZE/NONE, default VALID), so a
/// Loss layer and a SoftmaxWithLoss layer with the same loss_param give the same numbers.
/// </summary>
[LayerType("Loss")]
public sealed class LossLayer : LabelLossLayer, IStableSoftmaxLoss
{
    private LossParameter.Types.LossMode _mode;

    public LossLayer(LayerParameter param) : base(param) { }

    public override int ExactTops => 1;

    public LossParameter.Types.LossMode Mode => _mode;

    public bool ExpectsStableSoftmax => _mode == LossParameter.Types.LossMode.MultinomialLogisticStableSoftmax;

    public override void LayerSetUp(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        if (Param.LossParam is not { HasMode: true } lp)
            throw Error("loss_param { mode: … } is required: MultinomialLogistic_StableSoftmax (after a Softmax) or MultinomialLogistic");
        _mode = lp.Mode;
        if (_mode is not (LossParameter.Types.LossMode.MultinomialLogisticStableSoftmax or LossParameter.Types.LossMode.MultinomialLogistic))
            throw Error($"mode {ModeName(_mode)} arrives with the layer catalog");
        base.LayerSetUp(bottom, top);
    }

    private static string ModeName(LossParameter.Types.LossMode mode) =>
        LossParameter.Descriptor.FindFieldByName("mode").EnumType.FindValueByNumber((int)mode)?.Name ?? mode.ToString();

    public override void Forward(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        double loss = NegLogLikelihood(bottom[0].Data, bottom[1].Data);
        top[0].Data[0] = (float)(loss / Normalizer(ValidCount));
    }

    public override void Backward(IReadOnlyList<Blob> top, IReadOnlyList<bool> propagateDown, IReadOnlyList<Blob> bottom)
    {
        CheckNoLabelGradient(propagateDown, bottom);
        if (!propagateDown[0]) return;
        float scale = GradientScale(top[0]);
        if (ExpectsStableSoftmax) FusedGradient(bottom[0].Data, bottom[1].Data, bottom[0].Diff, scale);
        else LogGradient(bottom[0].Data, bottom[1].Data, bottom[0].Diff, scale);
    }
}
