using Engine.Backends;
using Engine.Core;
using Engine.Proto;

namespace Engine.Layers;

/// <summary>
/// Caffe's EuclideanLoss: loss = Σ w·(a − b)² / (2N), N = the first dimension of a. Both bottoms
/// get gradients, w·(a − b)·loss_weight/N for a and the negative for b. An optional third bottom
/// (an extension) holds weights w: either C values (C = a's dimension 1: one per channel, every
/// element of channel c weighted by w[c]) or one per element of a; it gets no gradient. Without
/// it w = 1.
/// </summary>
[LayerType("EuclideanLoss")]
public sealed class EuclideanLossLayer : Layer
{
    private readonly Blob _grad = new("grad");

    public EuclideanLossLayer(LayerParameter param) : base(param) { }

    public override int MinBottoms => 2;
    public override int MaxBottoms => 3;
    public override int MinTops => 1;
    public override int MaxTops => 1;
    public override bool IsLoss => true;
    public override bool AllowForceBackward(int bottomIndex) => bottomIndex < 2;
    public override bool CanBackward(int bottomIndex) => bottomIndex < 2;

    public override void Reshape(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        Blob a = bottom[0], b = bottom[1];
        if (a.NumAxes == 0 || a.Count != b.Count || (b.NumAxes > 0 && a.Dim(0) != b.Dim(0)))
            throw Error($"the bottoms \"{a.Name}\" {a.ShapeString} and \"{b.Name}\" {b.ShapeString} must have the same first dimension and count");
        if (bottom.Count > 2) Weights(bottom);
        _grad.ReshapeLike(a);
        top[0].Reshape([]);
    }

    private LossWeights? Weights(IReadOnlyList<Blob> bottom) =>
        bottom.Count < 3 ? null : LossWeights.FromBottom(bottom[2], bottom[0], Channels(bottom[0]), Inner(bottom[0]), perChannel: true, perPosition: false, Error);

    internal static int Channels(Blob x) => x.NumAxes > 1 ? x.Dim(1) : 1;

    internal static int Inner(Blob x) => x.NumAxes > 2 ? (int)x.CountFrom(2) : 1;

    /// <summary>
    /// Σ ½·w·(a − b)² over the elements; <paramref name="grad"/> receives its gradient w.r.t. a,
    /// w·(a − b) (the gradient w.r.t. b is its negative).
    /// </summary>
    public static double HalfSquaredError(ReadOnlySpan<float> a, ReadOnlySpan<float> b, LossWeights? weights, Span<float> grad)
    {
        double loss = 0;
        for (int e = 0; e < a.Length; e++)
        {
            float d = a[e] - b[e], w = LossWeights.At(weights, e);
            loss += 0.5 * w * d * d;
            grad[e] = w * d;
        }
        return loss;
    }

    public override void Forward(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        double loss = HalfSquaredError(bottom[0].Data, bottom[1].Data, Weights(bottom), _grad.Data);
        top[0].Data[0] = (float)(loss / bottom[0].Dim(0));
    }

    public override void Backward(IReadOnlyList<Blob> top, IReadOnlyList<bool> propagateDown, IReadOnlyList<Blob> bottom)
    {
        if (propagateDown.Count > 2 && propagateDown[2])
            throw Error($"cannot back-propagate to the weights \"{bottom[2].Name}\" (bottom 2)");
        float scale = top[0].Diff[0] / bottom[0].Dim(0);
        for (int i = 0; i < 2; i++)
            if (propagateDown[i])
                System.Numerics.Tensors.TensorPrimitives.Multiply(_grad.Data, i == 0 ? scale : -scale, bottom[i].Diff);
    }

    // ---- device code: per-element losses and gradient, one reduction over N ----------------

    private readonly LossScratch _scratch = new();

    public override bool RunsOnDevice => true;

    public override void ForwardOn(IBackend backend, IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        Blob a = bottom[0];
        var weights = LossWeighting.None;
        if (bottom.Count > 2)
            weights = new(bottom[2].DataOn(backend), bottom[2].Count == a.Count ? LossWeightKind.Element : LossWeightKind.Channel, Channels(a), Inner(a), null);
        var losses = _scratch.Losses(backend, (int)a.Count);
        backend.EuclideanForward(a.DataOn(backend), bottom[1].DataOn(backend), weights, losses, _grad.MutableDataOn(backend));
        backend.LossReduce(losses, null, a.Dim(0), top[0].MutableDataOn(backend), _scratch.Normalizer(backend));
    }

    public override void BackwardOn(IBackend backend, IReadOnlyList<Blob> top, IReadOnlyList<bool> propagateDown, IReadOnlyList<Blob> bottom)
    {
        if (propagateDown.Count > 2 && propagateDown[2])
            throw Error($"cannot back-propagate to the weights \"{bottom[2].Name}\" (bottom 2)");
        for (int i = 0; i < 2; i++)
            if (propagateDown[i])
                backend.LossScale(i == 0 ? 1f : -1f, _grad.DataOn(backend), top[0].DiffOn(backend), _scratch.Normalizer(backend), bottom[i].MutableDiffOn(backend));
    }
}
