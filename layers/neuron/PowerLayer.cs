using System.Numerics.Tensors;
using Engine.Backends;
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
        ForPieces(bottom[0].Count, (Layer: this, X: bottom[0], Y: top[0]), static (s, n, st) =>
            Compute(st.X.Data.Slice(s, n), st.Layer._power, st.Layer._scale, st.Layer._shift, st.Layer._base.AsSpan(s, n), st.Y.Data.Slice(s, n)));
    }

    public override void Backward(IReadOnlyList<Blob> top, IReadOnlyList<bool> propagateDown, IReadOnlyList<Blob> bottom)
    {
        if (!propagateDown[0]) return;
        ForPieces(top[0].Count, (Layer: this, Top: top[0], Bottom: bottom[0]), static (s, n, st) =>
            Gradient(st.Top.Diff.Slice(s, n), st.Layer._base.AsSpan(s, n), st.Layer._power, st.Layer._scale, st.Layer._work.AsSpan(s, n), st.Bottom.Diff.Slice(s, n)));
    }

    /// <summary>u = scale·x + shift, y = u^power (u is not written for power 0, where y = 1; y may be x).</summary>
    internal static void Compute(ReadOnlySpan<float> x, float power, float scale, float shift, Span<float> u, Span<float> y)
    {
        if (power == 0f) { y.Fill(1f); return; }
        TensorPrimitives.Multiply(x, scale, u);
        if (shift != 0f) TensorPrimitives.Add(u, shift, u);
        if (power == 1f) u.CopyTo(y);
        else if (power == 2f) TensorPrimitives.Multiply(u, u, y);
        else TensorPrimitives.Pow(u, power, y);
    }

    /// <summary>dx = dy·power·scale·u^(power − 1), with a scratch d; u is not read when power·scale
    /// is 0 (dx = 0) or power is 1.</summary>
    internal static void Gradient(ReadOnlySpan<float> dy, ReadOnlySpan<float> u, float power, float scale, Span<float> d, Span<float> dx)
    {
        float k = power * scale;
        if (k == 0f) { dx.Clear(); return; }
        if (power == 1f) { TensorPrimitives.Multiply(dy, k, dx); return; }
        if (power == 2f) u.CopyTo(d);
        else TensorPrimitives.Pow(u, power - 1f, d);
        TensorPrimitives.Multiply(d, k, d);
        TensorPrimitives.Multiply(dy, d, dx);
    }

    /// <summary>Whether backward reads the base u (not for power 1 or power·scale = 0).</summary>
    private bool GradientNeedsBase => _power != 1f && _power * _scale != 0f;

    // On a device the base is recomputed from x in backward; in place x is gone, so forward keeps
    // it in a device buffer (as the host always does in _base) when backward needs it.
    private readonly DeviceBuffer _deviceBase = new();

    public override bool RunsOnDevice => true;

    public override void ForwardOn(IBackend backend, IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        var x = bottom[0].DataOn(backend);
        BufferView? kept = InPlace(bottom, top) && GradientNeedsBase ? _deviceBase.On(backend, x.Count) : (BufferView?)null;
        backend.PowerForward(x, top[0].MutableDataOn(backend), _power, _scale, _shift, kept);
    }

    public override void BackwardOn(IBackend backend, IReadOnlyList<Blob> top, IReadOnlyList<bool> propagateDown, IReadOnlyList<Blob> bottom)
    {
        if (!propagateDown[0]) return;
        var dy = top[0].DiffOn(backend);
        if (InPlace(bottom, top) && GradientNeedsBase)
            backend.PowerBackward(_deviceBase.On(backend, dy.Count), dy, bottom[0].MutableDiffOn(backend), _power, _scale, 1f, 0f);
        else
            backend.PowerBackward(bottom[0].DataOn(backend), dy, bottom[0].MutableDiffOn(backend), _power, _scale, _scale, _shift);
    }
}
