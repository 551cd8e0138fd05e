using System.Numerics.Tensors;
using Engine.Core;
using Engine.Proto;

namespace Engine.Layers;

/// <summary>
/// Swish: y = x·σ(βx) (swish_param.beta, default 1). σ(βx) is kept from forward, so backward
/// works in place: dx = dy·(βy + σ(βx)·(1 − βy)).
/// </summary>
[LayerType("Swish")]
public sealed class SwishLayer : NeuronLayer
{
    private float _beta;
    private float[] _sigmoid = [];

    public SwishLayer(LayerParameter param) : base(param) { }

    public override void LayerSetUp(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        _beta = Param.SwishParam?.Beta ?? 1f;
        if (!float.IsFinite(_beta)) throw Error($"swish_param.beta must be finite, got {_beta}");
    }

    public override void Reshape(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        base.Reshape(bottom, top);
        if (_sigmoid.Length < bottom[0].Count) _sigmoid = new float[bottom[0].Count];
    }

    public override void Forward(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        ReadOnlySpan<float> x = bottom[0].Data;
        var s = _sigmoid.AsSpan(0, x.Length);
        TensorPrimitives.Multiply(x, _beta, s);
        TensorPrimitives.Sigmoid(s, s);
        TensorPrimitives.Multiply(x, s, top[0].Data);
    }

    public override void Backward(IReadOnlyList<Blob> top, IReadOnlyList<bool> propagateDown, IReadOnlyList<Blob> bottom)
    {
        if (!propagateDown[0]) return;
        ReadOnlySpan<float> y = top[0].Data;
        ReadOnlySpan<float> dy = top[0].Diff;
        ReadOnlySpan<float> s = _sigmoid.AsSpan(0, y.Length);
        Span<float> dx = bottom[0].Diff;
        for (int i = 0; i < y.Length; i++)
        {
            float by = _beta * y[i];
            dx[i] = dy[i] * (by + s[i] * (1f - by));
        }
    }
}
