using System.Numerics.Tensors;
using Engine.Backends;
using Engine.Core;
using Engine.Proto;

namespace Engine.Layers;

/// <summary>
/// What Caffe's classification losses share: bottom 0 holds one score or probability per class
/// along `axis` (outer × C × inner), bottom 1 one integer label per outer·inner position; the top
/// is the scalar loss. loss_param gives ignore_label (those positions add no loss and get no
/// gradient), normalization (FULL: outer·inner, VALID: the non-ignored count, BATCH_SIZE: outer,
/// NONE: 1; the deprecated `normalize` means VALID when true, BATCH_SIZE when false; the divisor
/// is at least 1) and, as an extension, class_weight (one weight per class: each position's loss
/// and gradient are multiplied by the weight of its label; the normalizer still counts positions).
/// No gradient flows to the labels.
/// </summary>
public abstract class LabelLossLayer : Layer
{
    /// <summary>C's FLT_MIN, the floor under a probability before its log (as Caffe).</summary>
    protected const float FltMin = 1.17549435e-38f;

    protected LabelLossLayer(LayerParameter param) : base(param) { }

    public override int ExactBottoms => 2;
    public override int MinTops => 1;
    public override bool IsLoss => true;
    public override bool AllowForceBackward(int bottomIndex) => bottomIndex != 1;
    public override bool CanBackward(int bottomIndex) => bottomIndex != 1;

    protected int Outer { get; set; }
    protected int Channels { get; set; }
    protected int Inner { get; set; }
    protected LossParameter.Types.NormalizationMode Normalization { get; private set; } = LossParameter.Types.NormalizationMode.Valid;
    protected bool HasIgnoreLabel { get; private set; }
    protected int IgnoreLabel { get; private set; }

    /// <summary>Non-ignored positions in the last forward pass.</summary>
    protected int ValidCount { get; set; }

    private float[] _classWeights = [];
    private string _labelsName = "";

    /// <summary>The normalization when loss_param gives neither normalization nor normalize (Caffe: VALID for most losses).</summary>
    protected virtual LossParameter.Types.NormalizationMode DefaultNormalization => LossParameter.Types.NormalizationMode.Valid;

    /// <summary>The divisor for FULL normalization: every position (outer·inner); elementwise losses count every element.</summary>
    protected virtual long FullCount => (long)Outer * Inner;

    /// <summary>The number of class_weight values given (0: none).</summary>
    protected int ClassWeightCount => _classWeights.Length;

    /// <summary>The class_weight values, or null when none are given.</summary>
    protected float[]? ClassWeights => _classWeights.Length == 0 ? null : _classWeights;

    /// <summary>The class axis as the file gives it (softmax_param.axis, default 1).</summary>
    protected virtual int AxisParam => Param.SoftmaxParam?.Axis ?? 1;

    public override void LayerSetUp(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        var lp = Param.LossParam;
        HasIgnoreLabel = lp?.HasIgnoreLabel ?? false;
        IgnoreLabel = lp?.IgnoreLabel ?? 0;
        if (lp == null || (!lp.HasNormalization && !lp.HasNormalize)) Normalization = DefaultNormalization;
        else if (!lp.HasNormalization && lp.HasNormalize)
            Normalization = lp.Normalize ? LossParameter.Types.NormalizationMode.Valid : LossParameter.Types.NormalizationMode.BatchSize;
        else Normalization = lp.Normalization;
        _classWeights = lp?.ClassWeight.ToArray() ?? [];
    }

    public override void Reshape(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        Blob scores = bottom[0], labels = bottom[1];
        _labelsName = labels.Name;
        if (scores.NumAxes == 0 || labels.NumAxes == 0 || scores.Dim(0) != labels.Dim(0))
            throw Error($"the data \"{scores.Name}\" {scores.ShapeString} and the labels \"{labels.Name}\" {labels.ShapeString} must have the same first dimension");
        int axis = AxisParam;
        if (axis < -scores.NumAxes || axis >= scores.NumAxes)
            throw Error($"axis {axis} is out of range for the {scores.NumAxes}-D bottom \"{scores.Name}\" {scores.ShapeString}");
        if (axis < 0) axis += scores.NumAxes;
        Outer = (int)scores.CountRange(0, axis);
        Channels = scores.Dim(axis);
        Inner = (int)scores.CountFrom(axis + 1);
        if ((long)Outer * Inner != labels.Count)
            throw Error($"{labels.Count} labels in \"{labels.Name}\" {labels.ShapeString} for {(long)Outer * Inner} predictions in \"{scores.Name}\" {scores.ShapeString}: " +
                        $"with the class axis {axis}, an (N, C, H, W) prediction needs N·H·W labels with integer values in 0..C−1");
        if (_classWeights.Length > 0 && _classWeights.Length != Channels)
            throw Error($"loss_param has {_classWeights.Length} class_weight values for {Channels} classes");
        top[0].Reshape([]);
    }

    /// <summary>
    /// Shapes for an elementwise loss (prediction and target of the same count): outer = N,
    /// channels = dimension 1 (1 for a 1-D prediction), inner = the rest; class_weight, when
    /// given, has one value per channel.
    /// </summary>
    internal void ShapeElementwise(Blob x, Blob target)
    {
        if (x.NumAxes == 0 || x.Count != target.Count)
            throw Error($"the prediction \"{x.Name}\" {x.ShapeString} and the target \"{target.Name}\" {target.ShapeString} must have the same count");
        Outer = x.Dim(0);
        Channels = x.NumAxes > 1 ? x.Dim(1) : 1;
        Inner = x.NumAxes > 2 ? (int)x.CountFrom(2) : 1;
        if (_classWeights.Length > 0 && _classWeights.Length != Channels)
            throw Error($"loss_param has {_classWeights.Length} class_weight values for {Channels} channels");
    }

    /// <summary>
    /// The label at position k (k = outer index·inner + inner index) as Caffe reads it (truncated
    /// to an integer), or −1 when it is the ignore_label; an error when outside [0, C).
    /// </summary>
    protected int LabelAt(ReadOnlySpan<float> labels, int k)
    {
        float value = labels[k];
        int label = (int)value;
        if (HasIgnoreLabel && label == IgnoreLabel) return -1;
        if (label < 0 || label >= Channels)
            throw Error($"label {Log.Num(value)} at index {k} of \"{_labelsName}\" is outside the {Channels} classes [0, {Channels}){(HasIgnoreLabel ? $" and is not the ignore_label {IgnoreLabel}" : "")}");
        return label;
    }

    /// <summary>
    /// On a device: every label checked as <see cref="LabelAt"/> does when the host holds them (a data
    /// layer's batch), so a bad label is the host's error and not a silent NaN; labels that only the
    /// device holds are not checked (that would need a download).
    /// </summary>
    protected void CheckLabelsOnHost(Blob labels)
    {
        if (labels.DataMemory.HostIfCurrent is not { } host) return;
        var span = host.AsSpan(0, (int)labels.Count);
        for (int k = 0; k < Outer * Inner; k++) LabelAt(span, k);
    }

    protected float ClassWeight(int label) => _classWeights.Length == 0 ? 1f : _classWeights[label];

    /// <summary>
    /// Σ −log(max(p_label, FLT_MIN))·class_weight·w over the non-ignored positions, where w is the
    /// weight of the label's element in <paramref name="weights"/> (1 when null); sets <see cref="ValidCount"/>.
    /// </summary>
    protected double NegLogLikelihood(ReadOnlySpan<float> prob, ReadOnlySpan<float> labels, LossWeights? weights = null)
    {
        int dim = Channels * Inner, valid = 0;
        double loss = 0;
        for (int i = 0; i < Outer; i++)
            for (int j = 0; j < Inner; j++)
            {
                int label = LabelAt(labels, i * Inner + j);
                if (label < 0) continue;
                int at = i * dim + label * Inner + j;
                loss -= ClassWeight(label) * LossWeights.At(weights, at) * Math.Log(Math.Max(prob[at], FltMin));
                valid++;
            }
        ValidCount = valid;
        return loss;
    }

    /// <summary>The divisor of the summed loss for this normalization mode, at least 1 (Caffe's get_normalizer).</summary>
    protected float Normalizer(int validCount)
    {
        double n = Normalization switch
        {
            LossParameter.Types.NormalizationMode.Full => FullCount,
            LossParameter.Types.NormalizationMode.Valid => validCount,
            LossParameter.Types.NormalizationMode.BatchSize => Outer,
            LossParameter.Types.NormalizationMode.None => 1,
            _ => throw Error($"unknown loss_param.normalization {Normalization}"),
        };
        return (float)Math.Max(1.0, n);
    }

    /// <summary>The gradient scale for this pass: the top's loss weight over the normalizer.</summary>
    protected float GradientScale(Blob lossTop) => lossTop.Diff[0] / Normalizer(ValidCount);

    /// <summary>
    /// The fused softmax/log-loss gradient: diff = (p − onehot(label))·scale·class_weight[label];
    /// zero at ignored positions; the whole position's gradient is also multiplied by the weight of
    /// the label's element in <paramref name="weights"/>.
    /// </summary>
    protected void FusedGradient(ReadOnlySpan<float> prob, ReadOnlySpan<float> labels, Span<float> diff, float scale, LossWeights? weights = null)
    {
        int dim = Channels * Inner;
        TensorPrimitives.Multiply(prob, scale, diff);
        for (int i = 0; i < Outer; i++)
            for (int j = 0; j < Inner; j++)
            {
                int label = LabelAt(labels, i * Inner + j);
                int at = i * dim + j;
                if (label < 0)
                {
                    for (int c = 0; c < Channels; c++) diff[at + c * Inner] = 0;
                    continue;
                }
                diff[at + label * Inner] -= scale;
                float w = ClassWeight(label) * LossWeights.At(weights, at + label * Inner);
                if (w != 1f)
                    for (int c = 0; c < Channels; c++) diff[at + c * Inner] *= w;
            }
    }

    /// <summary>
    /// The gradient of −log p alone: −scale·class_weight / max(p_label, FLT_MIN) at the label,
    /// zero elsewhere and at ignored positions.
    /// </summary>
    protected void LogGradient(ReadOnlySpan<float> prob, ReadOnlySpan<float> labels, Span<float> diff, float scale, LossWeights? weights = null)
    {
        int dim = Channels * Inner;
        diff.Clear();
        for (int i = 0; i < Outer; i++)
            for (int j = 0; j < Inner; j++)
            {
                int label = LabelAt(labels, i * Inner + j);
                if (label < 0) continue;
                int at = i * dim + label * Inner + j;
                diff[at] = -scale * ClassWeight(label) * LossWeights.At(weights, at) / Math.Max(prob[at], FltMin);
            }
    }

    /// <summary>The labels as integers (−1 at ignored positions), checked as <see cref="LabelAt"/>; sets <see cref="ValidCount"/>.</summary>
    protected int[] ReadLabels(ReadOnlySpan<float> labels, ref int[] buffer)
    {
        int n = Outer * Inner, valid = 0;
        if (buffer.Length != n) buffer = new int[n];
        for (int k = 0; k < n; k++)
            if ((buffer[k] = LabelAt(labels, k)) >= 0) valid++;
        ValidCount = valid;
        return buffer;
    }

    // ---- device code -----------------------------------------------------------------------

    /// <summary>The device scratch (losses, counts, normaliser, class weights) of <see cref="Layer.ForwardOn"/>.</summary>
    internal LossScratch Scratch { get; } = new();

    /// <summary>The ignore_label for the device primitives (null without one).</summary>
    protected int? IgnoreOrNull => HasIgnoreLabel ? IgnoreLabel : null;

    /// <summary>
    /// top[0] = Σ losses / normaliser on the backend, the normaliser (left for backward) counted
    /// from <paramref name="counts"/> for VALID and fixed by the shape otherwise.
    /// </summary>
    protected void ReduceOn(IBackend backend, BufferView losses, BufferView counts, Blob top)
    {
        bool valid = Normalization == LossParameter.Types.NormalizationMode.Valid;
        backend.LossReduce(losses, valid ? (BufferView?)counts : null, valid ? 0f : Normalizer(0), top.MutableDataOn(backend), Scratch.Normalizer(backend));
    }

    /// <summary>Rejects a gradient request for the labels.</summary>
    protected void CheckNoLabelGradient(IReadOnlyList<bool> propagateDown, IReadOnlyList<Blob> bottom)
    {
        if (propagateDown.Count > 1 && propagateDown[1])
            throw Error($"cannot back-propagate to the labels \"{bottom[1].Name}\" (bottom 1)");
    }
}
