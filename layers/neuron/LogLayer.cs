using System.Numerics.Tensors;
using Engine.Core;
using Engine.Proto;

namespace Engine.Layers;

/// <summary>
/// y = log_base(shift + scale·x) (log_param: base −1 = e, scale 1, shift 0).
/// Backward: dx = dy·scale / ((shift + scale·x)·ln(base)). The argument is kept from forward, so
/// backward also works in place.
/// </summary>
[LayerType("Log")]
public sealed class LogLayer : NeuronLayer
{
    private float _scale, _shift, _baseScale;
    private float[] _arg = [];

    public LogLayer(LayerParameter param) : base(param) { }

    public override void LayerSetUp(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        var p = Param.LogParam ?? new LogParameter();
        if (p.Base != -1f && !(p.Base > 0f && p.Base != 1f)) throw Error($"log_param.base must be -1 (for e) or positive and not 1, got {p.Base}");
        _baseScale = p.Base == -1f ? 1f : (float)(1.0 / Math.Log(p.Base));
        _scale = p.Scale;
        _shift = p.Shift;
    }

    public override void Reshape(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        base.Reshape(bottom, top);
        if (_arg.Length < bottom[0].Count) _arg = new float[bottom[0].Count];
    }

    public override void Forward(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        ReadOnlySpan<float> x = bottom[0].Data;
        Span<float> y = top[0].Data;
        var u = _arg.AsSpan(0, x.Length);
        TensorPrimitives.Multiply(x, _scale, u);
        if (_shift != 0f) TensorPrimitives.Add(u, _shift, u);
        TensorPrimitives.Log(u, y);
        if (_baseScale != 1f) TensorPrimitives.Multiply(y, _baseScale, y);
    }

    public override void Backward(IReadOnlyList<Blob> top, IReadOnlyList<bool> propagateDown, IReadOnlyList<Blob> bottom)
    {
        if (!propagateDown[0]) return;
        Span<float> dx = bottom[0].Diff;
        TensorPrimitives.Divide(top[0].Diff, _arg.AsSpan(0, dx.Length), dx);
        float k = _scale * _baseScale;
        if (k != 1f) TensorPrimitives.Multiply(dx, k, dx);
    }
}
