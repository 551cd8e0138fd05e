using Engine.Backends;
using Engine.Core;
using Engine.Proto;

namespace Engine.Layers;

/// <summary>
/// Fast R-CNN's SmoothL1Loss (smooth_l1_loss_param { sigma }, default 1): with
/// d = w_in·(a − b), f(d) = 0.5·(σd)² when |d| &lt; 1/σ², else |d| − 0.5/σ²;
/// loss = Σ w_out·f(d) / N, N = the first dimension of a. Optional bottoms 2 and 3 are the inside
/// and outside weights w_in, w_out (each the shape of a; without them 1). Gradients go to a and b
/// (opposite signs): ±w_out·w_in·f′(d)·loss_weight/N, f′(d) = σ²d or sign(d). No gradient to
/// the weights.
/// </summary>
[LayerType("SmoothL1Loss")]
public sealed class SmoothL1LossLayer : Layer
{
    private readonly Blob _grad = new("grad");
    private float _sigma = 1;

    public SmoothL1LossLayer(LayerParameter param) : base(param) { }

    public override int MinBottoms => 2;
    public override int MaxBottoms => 4;
    public override int MinTops => 1;
    public override int MaxTops => 1;
    public override bool IsLoss => true;
    public override bool AllowForceBackward(int bottomIndex) => bottomIndex < 2;
    public override bool CanBackward(int bottomIndex) => bottomIndex < 2;

    /// <summary>sigma from smooth_l1_loss_param (default 1); it must be positive.</summary>
    internal static float ReadSigma(LayerParameter param, Func<string, Exception> error)
    {
        float sigma = param.SmoothL1LossParam?.Sigma ?? 1f;
        if (!(sigma > 0)) throw error($"smooth_l1_loss_param.sigma must be positive, got {Log.Num(sigma)}");
        return sigma;
    }

    public override void LayerSetUp(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top) => _sigma = ReadSigma(Param, Error);

    public override void Reshape(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        Blob a = bottom[0];
        if (a.NumAxes == 0) throw Error($"the prediction \"{a.Name}\" has no axes");
        for (int i = 1; i < bottom.Count; i++)
            if (bottom[i].Count != a.Count)
                throw Error($"bottom {i} \"{bottom[i].Name}\" {bottom[i].ShapeString} must have as many values as \"{a.Name}\" {a.ShapeString}");
        _grad.ReshapeLike(a);
        top[0].Reshape([]);
    }

    /// <summary>
    /// Σ w_out·f(w_in·(a − b)) over the elements; <paramref name="grad"/> receives its gradient
    /// w.r.t. a, w_out·w_in·f′(d) (the gradient w.r.t. b is its negative). An empty
    /// <paramref name="inside"/> means w_in = 1; <paramref name="outside"/> null means w_out = 1.
    /// </summary>
    public static double Sum(ReadOnlySpan<float> a, ReadOnlySpan<float> b, ReadOnlySpan<float> inside, LossWeights? outside, float sigma, Span<float> grad)
    {
        float sigma2 = sigma * sigma, knee = 1f / sigma2;
        double loss = 0;
        for (int e = 0; e < a.Length; e++)
        {
            float wIn = inside.IsEmpty ? 1f : inside[e], wOut = LossWeights.At(outside, e);
            float d = wIn * (a[e] - b[e]), ad = Math.Abs(d);
            float f, df;
            if (ad < knee) { f = 0.5f * sigma2 * d * d; df = sigma2 * d; }
            else { f = ad - 0.5f / sigma2; df = Math.Sign(d); }
            loss += wOut * f;
            grad[e] = wOut * wIn * df;
        }
        return loss;
    }

    public override void Forward(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        var inside = bottom.Count > 2 ? (ReadOnlySpan<float>)bottom[2].Data : default;
        var outside = bottom.Count > 3 ? LossWeights.FromBottom(bottom[3], bottom[0], 1, 1, perChannel: false, perPosition: false, Error) : null;
        double loss = Sum(bottom[0].Data, bottom[1].Data, inside, outside, _sigma, _grad.Data);
        top[0].Data[0] = (float)(loss / bottom[0].Dim(0));
    }

    public override void Backward(IReadOnlyList<Blob> top, IReadOnlyList<bool> propagateDown, IReadOnlyList<Blob> bottom)
    {
        for (int i = 2; i < propagateDown.Count; i++)
            if (propagateDown[i]) throw Error($"cannot back-propagate to the weights \"{bottom[i].Name}\" (bottom {i})");
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
        BufferView? inside = bottom.Count > 2 ? bottom[2].DataOn(backend) : (BufferView?)null, outside = bottom.Count > 3 ? bottom[3].DataOn(backend) : (BufferView?)null;
        var losses = _scratch.Losses(backend, (int)a.Count);
        backend.SmoothL1Forward(a.DataOn(backend), bottom[1].DataOn(backend), inside, outside, _sigma, losses, _grad.MutableDataOn(backend));
        backend.LossReduce(losses, null, a.Dim(0), top[0].MutableDataOn(backend), _scratch.Normalizer(backend));
    }

    public override void BackwardOn(IBackend backend, IReadOnlyList<Blob> top, IReadOnlyList<bool> propagateDown, IReadOnlyList<Blob> bottom)
    {
        for (int i = 2; i < propagateDown.Count; i++)
            if (propagateDown[i]) throw Error($"cannot back-propagate to the weights \"{bottom[i].Name}\" (bottom {i})");
        for (int i = 0; i < 2; i++)
            if (propagateDown[i])
                backend.LossScale(i == 0 ? 1f : -1f, _grad.DataOn(backend), top[0].DiffOn(backend), _scratch.Normalizer(backend), bottom[i].MutableDiffOn(backend));
    }
}
