using System.Numerics.Tensors;
using Engine.Core;
using Engine.Proto;

namespace Engine.Layers;

/// <summary>
/// Binomial normal log likelihood, softplus: y = log(1 + eˣ), computed stably as
/// max(x, 0) + log(1 + e^−|x|). The derivative σ(x) is recovered from the top as 1 − e^−y, so
/// backward works in place.
/// </summary>
[LayerType("BNLL")]
public sealed class BNLLLayer : NeuronLayer
{
    private float[] _work = [];

    public BNLLLayer(LayerParameter param) : base(param) { }

    public override void Reshape(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        base.Reshape(bottom, top);
        if (_work.Length < bottom[0].Count) _work = new float[bottom[0].Count];
    }

    public override void Forward(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        ReadOnlySpan<float> x = bottom[0].Data;
        Span<float> y = top[0].Data;
        var t = _work.AsSpan(0, x.Length);
        TensorPrimitives.Abs(x, t);
        TensorPrimitives.Negate(t, t);
        TensorPrimitives.Exp(t, t);
        TensorPrimitives.LogP1(t, t);
        TensorPrimitives.Max(x, 0f, y);
        TensorPrimitives.Add(y, t, y);
    }

    public override void Backward(IReadOnlyList<Blob> top, IReadOnlyList<bool> propagateDown, IReadOnlyList<Blob> bottom)
    {
        if (!propagateDown[0]) return;
        ReadOnlySpan<float> y = top[0].Data;
        ReadOnlySpan<float> dy = top[0].Diff;
        Span<float> dx = bottom[0].Diff;
        var t = _work.AsSpan(0, y.Length);
        // σ(x) = 1 − e^−y; dx = dy − dy·e^−y.
        TensorPrimitives.Negate(y, t);
        TensorPrimitives.Exp(t, t);
        TensorPrimitives.Multiply(dy, t, t);
        TensorPrimitives.Subtract(dy, t, dx);
    }
}
