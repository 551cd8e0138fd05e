using System.Numerics.Tensors;
using Engine.Core;
using Engine.Proto;

namespace Engine.Layers;

/// <summary>
/// y = (shift + scale·x)^power (power_param: power 1, scale 1, shift 0 by default).
/// Backward: dx = dy·power·scale·(shift + scale·x)^(power − 1). The base u = shift + scale·x is
/// kept from forward, so backward also works in place.
/// </summary>
[LayerType("Power")]
public sealed class PowerLayer : NeuronLayer
{
    private float _power, _scale, _shift;
    private float[] _base = [], _work = [];

    public PowerLayer(LayerParameter param) : base(param) { }

    public override void LayerSetUp(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        var p = Param.PowerParam ?? new PowerParameter();
        (_power, _scale, _shift) = (p.Power, p.Scale, p.Shift);
        if (!float.IsFinite(_power) || !float.IsFinite(_scale) || !float.IsFinite(_shift))
            throw Error($"power_param must be finite, got power {_power}, scale {_scale}, shift {_shift}");
    }

    public override void Reshape(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        base.Reshape(bottom, top);
        long n = bottom[0].Count;
        if (_base.Length < n) { _base = new float[n]; _work = new float[n]; }
    }

    public override void Forward(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        ReadOnlySpan<float> x = bottom[0].Data;
        Span<float> y = top[0].Data;
        if (_power == 0f) { y.Fill(1f); return; }
        var u = _base.AsSpan(0, x.Length);
        TensorPrimitives.Multiply(x, _scale, u);
        if (_shift != 0f) TensorPrimitives.Add(u, _shift, u);
        if (_power == 1f) u.CopyTo(y);
        else if (_power == 2f) TensorPrimitives.Multiply(u, u, y);
        else TensorPrimitives.Pow(u, _power, y);
    }

    public override void Backward(IReadOnlyList<Blob> top, IReadOnlyList<bool> propagateDown, IReadOnlyList<Blob> bottom)
    {
        if (!propagateDown[0]) return;
        ReadOnlySpan<float> dy = top[0].Diff;
        Span<float> dx = bottom[0].Diff;
        float k = _power * _scale;
        if (k == 0f) { dx.Clear(); return; }
        if (_power == 1f) { TensorPrimitives.Multiply(dy, k, dx); return; }
        var u = _base.AsSpan(0, dy.Length);
        var d = _work.AsSpan(0, dy.Length);
        if (_power == 2f) u.CopyTo(d);
        else TensorPrimitives.Pow(u, _power - 1f, d);
        TensorPrimitives.Multiply(d, k, d);
        TensorPrimitives.Multiply(dy, d, dx);
    }
}
