using System.Numerics.Tensors;
using Engine.Backends;
using Engine.Core;
using Engine.Graph;
using Engine.Proto;
using Mode = Engine.Proto.LossParameter.Types.LossMode;
using Norm = Engine.Proto.LossParameter.Types.NormalizationMode;

namespace Engine.Layers;

/// <summary>
/// Marvin's `Loss` layer, one type for several losses chosen by loss_param.mode; each mode uses the
/// math of the corresponding Caffe-style layer (the static sums of those classes), so with the
/// default normalization a mode gives that layer's loss and gradients.
/// <list type="bullet">
/// <item>MultinomialLogistic_StableSoftmax / MultinomialLogistic: bottom 0 probabilities (from a
/// Softmax), bottom 1 labels; loss −Σ log(max(p_label, FLT_MIN))·class_weight[label]. The stable
/// mode writes the fused (p − onehot)·scale and the net pairs it with the producing Softmax
/// (stable_gradient: true), which then passes that gradient straight through; the plain mode
/// writes −scale/max(p_label, FLT_MIN) and pairs with stable_gradient: false.</item>
/// <item>HingeL1 / HingeL2: bottom 0 scores, bottom 1 labels (HingeLoss with norm L1 / L2, per
/// position along the class axis).</item>
/// <item>Infogain: bottom 0 scores (internal softmax, as InfogainLoss), bottom 1 labels; H from
/// infogain_loss_param.source, else bottom 2; the class axis is infogain_loss_param.axis when that
/// message is given.</item>
/// <item>EuclideanSSE, SmoothL1 (smooth_l1_loss_param.sigma), SigmoidCrossEntropy: bottom 0 the
/// prediction, bottom 1 the target of the same count. EuclideanSSE and SmoothL1 send gradients to
/// both (opposite signs), SigmoidCrossEntropy to bottom 0 only.</item>
/// <item>Contrastive: bottoms a, b (N × C) and the similarity y; margin from loss_param.margin,
/// legacy_version from contrastive_loss_param; gradients to a and b.</item>
/// </list>
/// Normalization follows loss_param (FULL/VALID/BATCH_SIZE/NONE). Without one, each mode uses its
/// Caffe layer's: VALID (non-ignored positions) for the label modes, BATCH_SIZE (N) for
/// EuclideanSSE, SmoothL1, SigmoidCrossEntropy and Contrastive. FULL counts positions for the label
/// modes, elements for the elementwise modes and items for Contrastive. ignore_label applies to the
/// label modes and SigmoidCrossEntropy. class_weight: one per class (label modes), one per channel
/// (SigmoidCrossEntropy), or two for Contrastive (dissimilar, similar); not for EuclideanSSE or
/// SmoothL1. An optional last bottom (after the required ones) holds per-element weights: the
/// prediction's shape (one per element) or the label's (one per label: per position for the label
/// modes, per pair for Contrastive); each element's loss and gradient are multiplied by its weight.
/// For the multinomial modes a position uses the weight of its label's element. No gradient flows
/// to labels, H or weights.
/// </summary>
[LayerType("Loss")]
public sealed class LossLayer : LabelLossLayer, IStableSoftmaxLoss
{
    private enum Family { Multinomial, Hinge, Infogain, Elementwise, Contrastive }

    private Mode _mode;
    private Family _family;
    private float _sigma = 1;
    private Blob? _fileH;
    private readonly Blob _grad = new("grad");
    private readonly Blob _prob = new("prob");
    private float[] _scratch = [];
    private int[] _labels = [];

    public LossLayer(LayerParameter param) : base(param)
    {
        if (param.LossParam is { HasMode: true } lp) _mode = lp.Mode;
    }

    public override int ExactBottoms => -1;
    public override int MinBottoms => 2;
    public override int MaxBottoms => 4;
    public override int ExactTops => 1;

    public Mode Mode => _mode;

    public bool ExpectsStableSoftmax => _mode == Mode.MultinomialLogisticStableSoftmax;

    /// <summary>Bottoms 0 (and 1 for EuclideanSSE, SmoothL1, Contrastive) get gradients; labels, targets of SigmoidCrossEntropy, H and weights do not.</summary>
    public override bool CanBackward(int bottomIndex) =>
        bottomIndex == 0 || (bottomIndex == 1 && _mode is Mode.EuclideanSse or Mode.SmoothL1 or Mode.Contrastive);

    public override bool AllowForceBackward(int bottomIndex) => CanBackward(bottomIndex);

    protected override Norm DefaultNormalization => _mode switch
    {
        Mode.EuclideanSse or Mode.SmoothL1 or Mode.SigmoidCrossEntropy or Mode.Contrastive => Norm.BatchSize,
        _ => Norm.Valid,
    };

    protected override long FullCount => _family switch
    {
        Family.Elementwise => (long)Outer * Channels * Inner,
        Family.Contrastive => Outer,
        _ => (long)Outer * Inner,
    };

    protected override int AxisParam => _mode == Mode.Infogain && Param.InfogainLossParam != null ? Param.InfogainLossParam.Axis : base.AxisParam;

    /// <summary>Bottoms the mode requires; a further one holds the weights.</summary>
    private int Required => _mode == Mode.Contrastive || (_mode == Mode.Infogain && _fileH == null) ? 3 : 2;

    public override void LayerSetUp(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        if (Param.LossParam is not { HasMode: true } lp)
            throw Error("loss_param { mode: … } is required: MultinomialLogistic_StableSoftmax (after a Softmax), MultinomialLogistic, SmoothL1, Contrastive, EuclideanSSE, HingeL1, HingeL2, SigmoidCrossEntropy or Infogain");
        _mode = lp.Mode;
        _family = _mode switch
        {
            Mode.MultinomialLogisticStableSoftmax or Mode.MultinomialLogistic => Family.Multinomial,
            Mode.HingeL1 or Mode.HingeL2 => Family.Hinge,
            Mode.Infogain => Family.Infogain,
            Mode.EuclideanSse or Mode.SmoothL1 or Mode.SigmoidCrossEntropy => Family.Elementwise,
            Mode.Contrastive => Family.Contrastive,
            _ => throw Error($"unknown loss_param.mode {(int)_mode}"),
        };
        base.LayerSetUp(bottom, top);
        if (_mode is Mode.EuclideanSse or Mode.SmoothL1 or Mode.Contrastive && HasIgnoreLabel)
            throw Error($"loss_param.ignore_label does not apply to mode {ModeName(_mode)}");
        if (_mode is Mode.EuclideanSse or Mode.SmoothL1 && ClassWeightCount > 0)
            throw Error($"loss_param.class_weight does not apply to mode {ModeName(_mode)}");
        if (_mode == Mode.Contrastive && ClassWeightCount is not (0 or 2))
            throw Error($"mode Contrastive takes 2 class_weight values (dissimilar, similar), got {ClassWeightCount}");
        if (_mode == Mode.SmoothL1) _sigma = SmoothL1LossLayer.ReadSigma(Param, Error);
        if (_mode == Mode.Infogain) _fileH = InfogainLossLayer.ReadH(Param);
        if (bottom.Count < Required)
            throw Error($"mode {ModeName(_mode)} takes {Required} bottoms{(_mode == Mode.Infogain ? " (without infogain_loss_param.source, bottom 2 is the infogain matrix)" : "")} and an optional one of weights, got {bottom.Count}");
        if (bottom.Count > Required + 1)
            throw Error($"mode {ModeName(_mode)} takes at most {Required + 1} bottoms ({Required} and one of weights), got {bottom.Count}");
    }

    private static string ModeName(Mode mode) =>
        LossParameter.Descriptor.FindFieldByName("mode").EnumType.FindValueByNumber((int)mode)?.Name ?? mode.ToString();

    public override void Reshape(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        switch (_family)
        {
            case Family.Elementwise:
                ShapeElementwise(bottom[0], bottom[1]);
                top[0].Reshape([]);
                break;
            case Family.Contrastive:
                ContrastiveLossLayer.CheckShapes(bottom[0], bottom[1], bottom[2], Error);
                Outer = bottom[0].Dim(0);
                Channels = bottom[0].Dim(1);
                Inner = 1;
                top[0].Reshape([]);
                break;
            default:
                base.Reshape(bottom, top);
                break;
        }
        if (_family == Family.Infogain)
        {
            InfogainLossLayer.CheckH(_fileH ?? bottom[2], Channels, Error);
            _prob.ReshapeLike(bottom[0]);
            SoftmaxLayer.EnsureScratch(ref _scratch, Inner);
        }
        if (_family != Family.Multinomial) _grad.ReshapeLike(bottom[0]);
        Weights(bottom);
    }

    /// <summary>The weight bottom, if any: per element of the prediction, or per label (position, or pair for Contrastive).</summary>
    private LossWeights? Weights(IReadOnlyList<Blob> bottom)
    {
        if (bottom.Count <= Required) return null;
        Blob w = bottom[Required], x = bottom[0];
        if (_family != Family.Contrastive)
            return LossWeights.FromBottom(w, x, Channels, Inner, perChannel: false, perPosition: _family != Family.Elementwise, Error);
        if (w.Count != Outer)
            throw Error($"the weights \"{w.Name}\" {w.ShapeString} must have {Outer} values, one per pair");
        return LossWeights.Of(w.DataArray, LossWeights.Kind.Position, Channels, 1);
    }

    public override void Forward(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        var w = Weights(bottom);
        double loss;
        switch (_mode)
        {
            case Mode.MultinomialLogisticStableSoftmax or Mode.MultinomialLogistic:
                loss = NegLogLikelihood(bottom[0].Data, bottom[1].Data, w);
                break;
            case Mode.HingeL1 or Mode.HingeL2:
                loss = HingeLossLayer.Sum(bottom[0].Data, ReadLabels(bottom[1].Data, ref _labels), Outer, Channels, Inner, _mode == Mode.HingeL2, w, ClassWeights, _grad.Data);
                break;
            case Mode.Infogain:
                SoftmaxLayer.Compute(bottom[0].Data, _prob.Data, Outer, Channels, Inner, _scratch);
                loss = InfogainLossLayer.Sum(_prob.Data, ReadLabels(bottom[1].Data, ref _labels), (_fileH ?? bottom[2]).Data, Outer, Channels, Inner, w, ClassWeights, _grad.Data);
                break;
            case Mode.EuclideanSse:
                loss = EuclideanLossLayer.HalfSquaredError(bottom[0].Data, bottom[1].Data, w, _grad.Data);
                ValidCount = (int)bottom[0].Count;
                break;
            case Mode.SmoothL1:
                loss = SmoothL1LossLayer.Sum(bottom[0].Data, bottom[1].Data, default, w, _sigma, _grad.Data);
                ValidCount = (int)bottom[0].Count;
                break;
            case Mode.SigmoidCrossEntropy:
                loss = SigmoidCrossEntropyLossLayer.Sum(bottom[0].Data, bottom[1].Data, HasIgnoreLabel, IgnoreLabel,
                    LossWeights.Of(ClassWeights, LossWeights.Kind.Channel, Channels, Inner, w), _grad.Data, out int valid);
                ValidCount = valid;
                break;
            default: // Contrastive
                bool legacy = Param.ContrastiveLossParam?.LegacyVersion ?? false;
                loss = ContrastiveLossLayer.Sum(bottom[0].Data, bottom[1].Data, bottom[2].Data, Channels, Param.LossParam.Margin, legacy, w, ClassWeights, _grad.Data);
                ValidCount = Outer;
                break;
        }
        top[0].Data[0] = (float)(loss / Normalizer(ValidCount));
    }

    private string BottomRole(int i) =>
        i >= Required ? "the weights"
        : i == 2 ? (_mode == Mode.Contrastive ? "the similarity labels" : "the infogain matrix")
        : _family == Family.Elementwise ? "the targets" : "the labels";

    public override void Backward(IReadOnlyList<Blob> top, IReadOnlyList<bool> propagateDown, IReadOnlyList<Blob> bottom)
    {
        for (int i = 1; i < propagateDown.Count; i++)
            if (propagateDown[i] && !CanBackward(i))
                throw Error($"cannot back-propagate to {BottomRole(i)} \"{bottom[i].Name}\" (bottom {i})");
        float scale = GradientScale(top[0]);
        if (_family == Family.Multinomial)
        {
            if (!propagateDown[0]) return;
            var w = Weights(bottom);
            if (ExpectsStableSoftmax) FusedGradient(bottom[0].Data, bottom[1].Data, bottom[0].Diff, scale, w);
            else LogGradient(bottom[0].Data, bottom[1].Data, bottom[0].Diff, scale, w);
            return;
        }
        for (int i = 0; i < 2; i++)
            if (propagateDown.Count > i && propagateDown[i] && CanBackward(i))
                TensorPrimitives.Multiply(_grad.Data, i == 0 ? scale : -scale, bottom[i].Diff);
    }

    // ---- device code: each mode runs the primitives of its Caffe layer (IBackend.Loss.cs), or their
    // weighted variants (IBackend.LossMode.cs), then one reduction; backward scales the gradient ----

    public override bool RunsOnDevice => true;

    /// <summary>The weights on the backend: the weight bottom (per element or per label, as <see cref="Weights"/> reads it) and class_weight.</summary>
    private LossWeighting WeightingOn(IBackend backend, IReadOnlyList<Blob> bottom)
    {
        var cw = Scratch.ClassWeights(backend, ClassWeights);
        if (bottom.Count <= Required) return new(null, LossWeightKind.None, Channels, Inner, cw);
        Blob w = bottom[Required];
        var kind = _family == Family.Contrastive || w.Count != bottom[0].Count ? LossWeightKind.Position : LossWeightKind.Element;
        return new(w.DataOn(backend), kind, Channels, Inner, cw);
    }

    public override void ForwardOn(IBackend backend, IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        var weights = WeightingOn(backend, bottom);
        bool weighted = bottom.Count > Required;
        int positions = Outer * Inner, count = (int)bottom[0].Count;
        BufferView x = bottom[0].DataOn(backend), labels = bottom[1].DataOn(backend);
        BufferView losses, counts;
        switch (_mode)
        {
            case Mode.MultinomialLogisticStableSoftmax or Mode.MultinomialLogistic:
                (losses, counts) = (Scratch.Losses(backend, positions), Scratch.Counts(backend, positions));
                backend.NllForward(Outer, Channels, Inner, x, labels, IgnoreOrNull, FltMin, weights, losses, counts);
                break;
            case Mode.HingeL1 or Mode.HingeL2:
                (losses, counts) = (Scratch.Losses(backend, positions), Scratch.Counts(backend, positions));
                backend.HingePositionForward(Outer, Channels, Inner, x, labels, IgnoreOrNull, _mode == Mode.HingeL2, weights,
                    losses, counts, _grad.MutableDataOn(backend));
                break;
            case Mode.Infogain:
            {
                (losses, counts) = (Scratch.Losses(backend, positions), Scratch.Counts(backend, positions));
                var prob = _prob.MutableDataOn(backend);
                backend.SoftmaxForward(Outer, Channels, Inner, x, prob);
                var h = (_fileH ?? bottom[2]).DataOn(backend);
                if (weighted)
                    backend.InfogainWeightedForward(Outer, Channels, Inner, prob, labels, IgnoreOrNull, h, weights, losses, counts, _grad.MutableDataOn(backend));
                else
                    backend.InfogainForward(Outer, Channels, Inner, prob, labels, IgnoreOrNull, h, weights.ClassWeights, losses, counts, _grad.MutableDataOn(backend));
                break;
            }
            case Mode.EuclideanSse:
                losses = Scratch.Losses(backend, count);
                backend.EuclideanForward(x, labels, weights, losses, _grad.MutableDataOn(backend));
                ReduceFixedOn(backend, losses, count, top[0]);
                return;
            case Mode.SmoothL1:
                losses = Scratch.Losses(backend, count);
                backend.SmoothL1Forward(x, labels, null, weights.Weights, _sigma, losses, _grad.MutableDataOn(backend));
                ReduceFixedOn(backend, losses, count, top[0]);
                return;
            case Mode.SigmoidCrossEntropy:
                (losses, counts) = (Scratch.Losses(backend, count), Scratch.Counts(backend, count));
                backend.SigmoidCrossEntropyForward(x, labels, IgnoreOrNull, weights, losses, counts, _grad.MutableDataOn(backend));
                break;
            default: // Contrastive
            {
                bool legacy = Param.ContrastiveLossParam?.LegacyVersion ?? false;
                losses = Scratch.Losses(backend, Outer);
                if (weighted || weights.ClassWeights != null)
                    backend.ContrastiveWeightedForward(Outer, Channels, x, labels, bottom[2].DataOn(backend), Param.LossParam.Margin, legacy,
                        weights, losses, _grad.MutableDataOn(backend));
                else
                    backend.ContrastiveForward(Outer, Channels, x, labels, bottom[2].DataOn(backend), Param.LossParam.Margin, legacy,
                        losses, _grad.MutableDataOn(backend));
                ReduceFixedOn(backend, losses, Outer, top[0]);
                return;
            }
        }
        ReduceOn(backend, losses, counts, top[0]);
    }

    /// <summary>The reduction for the modes without ignored elements: VALID counts all <paramref name="valid"/> of them, as the host's ValidCount.</summary>
    private void ReduceFixedOn(IBackend backend, BufferView losses, int valid, Blob top) =>
        backend.LossReduce(losses, null, Normalizer(valid), top.MutableDataOn(backend), Scratch.Normalizer(backend));

    public override void BackwardOn(IBackend backend, IReadOnlyList<Blob> top, IReadOnlyList<bool> propagateDown, IReadOnlyList<Blob> bottom)
    {
        for (int i = 1; i < propagateDown.Count; i++)
            if (propagateDown[i] && !CanBackward(i))
                throw Error($"cannot back-propagate to {BottomRole(i)} \"{bottom[i].Name}\" (bottom {i})");
        BufferView lossWeight = top[0].DiffOn(backend), normalizer = Scratch.Normalizer(backend);
        if (_family == Family.Multinomial)
        {
            if (!propagateDown[0]) return;
            var weights = WeightingOn(backend, bottom);
            BufferView prob = bottom[0].DataOn(backend), labels = bottom[1].DataOn(backend), diff = bottom[0].MutableDiffOn(backend);
            if (ExpectsStableSoftmax)
                backend.SoftmaxLossBackward(Outer, Channels, Inner, prob, labels, IgnoreOrNull, weights, lossWeight, normalizer, diff);
            else
                backend.NllBackward(Outer, Channels, Inner, prob, labels, IgnoreOrNull, FltMin, weights, lossWeight, normalizer, diff);
            return;
        }
        for (int i = 0; i < 2; i++)
            if (propagateDown.Count > i && propagateDown[i] && CanBackward(i))
                backend.LossScale(i == 0 ? 1f : -1f, _grad.DataOn(backend), lossWeight, normalizer, bottom[i].MutableDiffOn(backend));
    }
}
