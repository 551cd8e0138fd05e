using Engine.Backends;
using Engine.Core;
using Engine.Proto;

namespace Engine.Layers;

/// <summary>
/// Caffe's HingeLoss (hinge_loss_param { norm: L1 (d) | L2 }): bottom 0 holds scores, N × dim
/// (everything after the first axis is the class), bottom 1 one label per item. For each score,
/// t = max(0, 1 − δ·x) with δ = +1 at the label and −1 elsewhere; loss = Σ t / N (L1) or
/// Σ t² / N (L2). Gradient: −δ·[t &gt; 0] (L1) or −2δt (L2), times loss_weight/N. No gradient to
/// the labels.
/// </summary>
[LayerType("HingeLoss")]
public sealed class HingeLossLayer : Layer
{
    private readonly Blob _grad = new("grad");
    private int[] _labels = [];
    private bool _l2;

    public HingeLossLayer(LayerParameter param) : base(param) { }

    public override int ExactBottoms => 2;
    public override int MinTops => 1;
    public override int MaxTops => 1;
    public override bool IsLoss => true;
    public override bool AllowForceBackward(int bottomIndex) => bottomIndex != 1;
    public override bool CanBackward(int bottomIndex) => bottomIndex != 1;

    public override void LayerSetUp(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top) =>
        _l2 = (Param.HingeLossParam?.Norm ?? HingeLossParameter.Types.Norm.L1) == HingeLossParameter.Types.Norm.L2;

    public override void Reshape(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        Blob x = bottom[0], labels = bottom[1];
        if (x.NumAxes == 0 || labels.Count != x.Dim(0))
            throw Error($"the scores \"{x.Name}\" {x.ShapeString} need one label per item (first dimension); the labels \"{labels.Name}\" are {labels.ShapeString}");
        _grad.ReshapeLike(x);
        top[0].Reshape([]);
    }

    /// <summary>
    /// Σ cw[label]·w·t (L1) or Σ cw[label]·w·t² (L2) over the scores (outer × C × inner) of the
    /// positions whose label is not −1; <paramref name="grad"/> receives its gradient (0 at
    /// positions labelled −1). w is each score's weight in <paramref name="weights"/>;
    /// <paramref name="classWeights"/> null means cw = 1.
    /// </summary>
    public static double Sum(ReadOnlySpan<float> x, ReadOnlySpan<int> labels, int outer, int channels, int inner, bool l2,
        LossWeights? weights, float[]? classWeights, Span<float> grad)
    {
        double loss = 0;
        for (int i = 0; i < outer; i++)
            for (int j = 0; j < inner; j++)
            {
                int label = labels[i * inner + j];
                for (int c = 0; c < channels; c++)
                {
                    int e = (i * channels + c) * inner + j;
                    if (label < 0) { grad[e] = 0; continue; }
                    float delta = c == label ? 1f : -1f;
                    float t = Math.Max(0f, 1f - delta * x[e]);
                    float w = LossWeights.At(weights, e) * (classWeights == null ? 1f : classWeights[label]);
                    loss += w * (l2 ? (double)t * t : t);
                    grad[e] = l2 ? -2f * delta * t * w : (t > 0 ? -delta * w : 0f);
                }
            }
        return loss;
    }

    public override void Forward(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        Blob x = bottom[0], labelBlob = bottom[1];
        int n = x.Dim(0), dim = (int)(x.Count / n);
        if (_labels.Length != n) _labels = new int[n];
        var ld = labelBlob.Data;
        for (int i = 0; i < n; i++)
        {
            int label = (int)ld[i];
            if (label < 0 || label >= dim)
                throw Error($"label {Log.Num(ld[i])} at index {i} of \"{labelBlob.Name}\" is outside the {dim} classes [0, {dim})");
            _labels[i] = label;
        }
        double loss = Sum(x.Data, _labels, n, dim, 1, _l2, null, null, _grad.Data);
        top[0].Data[0] = (float)(loss / n);
    }

    public override void Backward(IReadOnlyList<Blob> top, IReadOnlyList<bool> propagateDown, IReadOnlyList<Blob> bottom)
    {
        if (propagateDown.Count > 1 && propagateDown[1])
            throw Error($"cannot back-propagate to the labels \"{bottom[1].Name}\" (bottom 1)");
        if (!propagateDown[0]) return;
        System.Numerics.Tensors.TensorPrimitives.Multiply(_grad.Data, top[0].Diff[0] / bottom[0].Dim(0), bottom[0].Diff);
    }

    // ---- device code: per-score losses and gradient, one reduction over N ------------------

    private readonly LossScratch _scratch = new();

    public override bool RunsOnDevice => true;

    public override void ForwardOn(IBackend backend, IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        Blob x = bottom[0];
        int n = x.Dim(0), dim = (int)(x.Count / n);
        var losses = _scratch.Losses(backend, (int)x.Count);
        backend.HingeForward(n, dim, x.DataOn(backend), bottom[1].DataOn(backend), _l2, losses, _grad.MutableDataOn(backend));
        backend.LossReduce(losses, null, n, top[0].MutableDataOn(backend), _scratch.Normalizer(backend));
    }

    public override void BackwardOn(IBackend backend, IReadOnlyList<Blob> top, IReadOnlyList<bool> propagateDown, IReadOnlyList<Blob> bottom)
    {
        if (propagateDown.Count > 1 && propagateDown[1])
            throw Error($"cannot back-propagate to the labels \"{bottom[1].Name}\" (bottom 1)");
        if (!propagateDown[0]) return;
        backend.LossScale(1f, _grad.DataOn(backend), top[0].DiffOn(backend), _scratch.Normalizer(backend), bottom[0].MutableDiffOn(backend));
    }
}
