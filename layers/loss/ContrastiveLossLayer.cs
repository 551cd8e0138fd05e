using Engine.Backends;
using Engine.Core;
using Engine.Proto;

namespace Engine.Layers;

/// <summary>
/// Caffe's ContrastiveLoss (contrastive_loss_param { margin (d 1) legacy_version (d false) }):
/// bottoms a and b (N × C × 1 × 1, or N × C) and the similarity y (N values; non-zero = similar).
/// With d² = ‖a_i − b_i‖², an item adds d² when similar, else max(margin − d, 0)²
/// (legacy_version: max(margin − d², 0)); loss = Σ / (2N). Both a and b get gradients (opposite
/// signs); as in Caffe, the non-legacy dissimilar gradient divides by d + 1e−4. No gradient to y.
/// </summary>
[LayerType("ContrastiveLoss")]
public sealed class ContrastiveLossLayer : Layer
{
    private readonly Blob _grad = new("grad");
    private float _margin = 1;
    private bool _legacy;

    public ContrastiveLossLayer(LayerParameter param) : base(param) { }

    public override int ExactBottoms => 3;
    public override int MinTops => 1;
    public override int MaxTops => 1;
    public override bool IsLoss => true;
    public override bool AllowForceBackward(int bottomIndex) => bottomIndex < 2;
    public override bool CanBackward(int bottomIndex) => bottomIndex < 2;

    public override void LayerSetUp(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        _margin = Param.ContrastiveLossParam?.Margin ?? 1f;
        _legacy = Param.ContrastiveLossParam?.LegacyVersion ?? false;
    }

    /// <summary>Checks a, b and y: a and b of the same shape N × C (× 1 × 1), y with N values.</summary>
    internal static void CheckShapes(Blob a, Blob b, Blob y, Func<string, Exception> error)
    {
        if (a.NumAxes < 2 || !a.ShapeEquals(b) || a.CountFrom(2) != 1)
            throw error($"the features \"{a.Name}\" {a.ShapeString} and \"{b.Name}\" {b.ShapeString} must have the same shape N × C (× 1 × 1)");
        if (y.Count != a.Dim(0))
            throw error($"the similarity \"{y.Name}\" {y.ShapeString} needs one value per item, {a.Dim(0)}");
    }

    public override void Reshape(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        CheckShapes(bottom[0], bottom[1], bottom[2], Error);
        _grad.ReshapeLike(bottom[0]);
        top[0].Reshape([]);
    }

    /// <summary>
    /// Σ ½·cw[y]·w·(similar ? d² : max(margin − d, 0)² or, legacy, max(margin − d², 0)) over the
    /// N items of C features; <paramref name="grad"/> receives its gradient w.r.t. a (w.r.t. b it
    /// is the negative), with Caffe's d + 1e−4 in the non-legacy dissimilar case. w is the item's
    /// weight (element i·C of <paramref name="weights"/>); cw = <paramref name="classWeights"/>
    /// [0 dissimilar, 1 similar], or 1 when null.
    /// </summary>
    public static double Sum(ReadOnlySpan<float> a, ReadOnlySpan<float> b, ReadOnlySpan<float> y, int channels, float margin, bool legacy,
        LossWeights? weights, float[]? classWeights, Span<float> grad)
    {
        int n = y.Length;
        double loss = 0;
        for (int i = 0; i < n; i++)
        {
            int off = i * channels;
            double d2 = 0;
            for (int c = 0; c < channels; c++)
            {
                double d = a[off + c] - b[off + c];
                d2 += d * d;
            }
            bool similar = (int)y[i] != 0;
            float w = LossWeights.At(weights, off) * (classWeights == null ? 1f : classWeights[similar ? 1 : 0]);
            double itemLoss, factor;
            if (similar) { itemLoss = d2; factor = 1; }
            else if (legacy)
            {
                double m = margin - d2;
                itemLoss = Math.Max(m, 0);
                factor = m > 0 ? -1 : 0;
            }
            else
            {
                double dist = Math.Sqrt(d2), m = margin - dist;
                itemLoss = m > 0 ? m * m : 0;
                factor = m > 0 ? -m / (dist + 1e-4) : 0;
            }
            loss += 0.5 * w * itemLoss;
            for (int c = 0; c < channels; c++) grad[off + c] = (float)(w * factor * (a[off + c] - b[off + c]));
        }
        return loss;
    }

    public override void Forward(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        Blob a = bottom[0];
        double loss = Sum(a.Data, bottom[1].Data, bottom[2].Data, a.Dim(1), _margin, _legacy, null, null, _grad.Data);
        top[0].Data[0] = (float)(loss / a.Dim(0));
    }

    public override void Backward(IReadOnlyList<Blob> top, IReadOnlyList<bool> propagateDown, IReadOnlyList<Blob> bottom)
    {
        if (propagateDown.Count > 2 && propagateDown[2])
            throw Error($"cannot back-propagate to the similarity labels \"{bottom[2].Name}\" (bottom 2)");
        float scale = top[0].Diff[0] / bottom[0].Dim(0);
        for (int i = 0; i < 2; i++)
            if (propagateDown[i])
                System.Numerics.Tensors.TensorPrimitives.Multiply(_grad.Data, i == 0 ? scale : -scale, bottom[i].Diff);
    }

    // ---- device code: per-item losses and gradient, one reduction over N -------------------

    private readonly LossScratch _scratch = new();

    public override bool RunsOnDevice => true;

    public override void ForwardOn(IBackend backend, IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        Blob a = bottom[0];
        int n = a.Dim(0);
        var losses = _scratch.Losses(backend, n);
        backend.ContrastiveForward(n, a.Dim(1), a.DataOn(backend), bottom[1].DataOn(backend), bottom[2].DataOn(backend), _margin, _legacy,
            losses, _grad.MutableDataOn(backend));
        backend.LossReduce(losses, null, n, top[0].MutableDataOn(backend), _scratch.Normalizer(backend));
    }

    public override void BackwardOn(IBackend backend, IReadOnlyList<Blob> top, IReadOnlyList<bool> propagateDown, IReadOnlyList<Blob> bottom)
    {
        if (propagateDown.Count > 2 && propagateDown[2])
            throw Error($"cannot back-propagate to the similarity labels \"{bottom[2].Name}\" (bottom 2)");
        for (int i = 0; i < 2; i++)
            if (propagateDown[i])
                backend.LossScale(i == 0 ? 1f : -1f, _grad.DataOn(backend), top[0].DiffOn(backend), _scratch.Normalizer(backend), bottom[i].MutableDiffOn(backend));
    }
}
