using System.Numerics.Tensors;
using Engine.Backends;
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
        ForPieces(bottom[0].Count, (Layer: this, X: bottom[0], Y: top[0]), static (s, n, st) =>
            Compute(st.X.Data.Slice(s, n), st.Layer._scale, st.Layer._shift, st.Layer._baseScale, st.Layer._arg.AsSpan(s, n), st.Y.Data.Slice(s, n)));
    }

    public override void Backward(IReadOnlyList<Blob> top, IReadOnlyList<bool> propagateDown, IReadOnlyList<Blob> bottom)
    {
        if (!propagateDown[0]) return;
        ForPieces(bottom[0].Count, (Layer: this, Top: top[0], Bottom: bottom[0]), static (s, n, st) =>
            Gradient(st.Top.Diff.Slice(s, n), st.Layer._arg.AsSpan(s, n), st.Layer._scale * st.Layer._baseScale, st.Bottom.Diff.Slice(s, n)));
    }

    /// <summary>u = scale·x + shift, y = baseScale·log(u) (y may be x).</summary>
    internal static void Compute(ReadOnlySpan<float> x, float scale, float shift, float baseScale, Span<float> u, Span<float> y)
    {
        TensorPrimitives.Multiply(x, scale, u);
        if (shift != 0f) TensorPrimitives.Add(u, shift, u);
        TensorPrimitives.Log(u, y);
        if (baseScale != 1f) TensorPrimitives.Multiply(y, baseScale, y);
    }

    /// <summary>dx = dy·k / u (k = scale·baseScale).</summary>
    internal static void Gradient(ReadOnlySpan<float> dy, ReadOnlySpan<float> u, float k, Span<float> dx)
    {
        TensorPrimitives.Divide(dy, u, dx);
        if (k != 1f) TensorPrimitives.Multiply(dx, k, dx);
    }

    // On a device the argument is recomputed from x in backward; in place x is gone, so forward
    // keeps it in a device buffer (as the host always does in _arg).
    private readonly DeviceBuffer _deviceArg = new();

    public override bool RunsOnDevice => true;

    public override void ForwardOn(IBackend backend, IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        var x = bottom[0].DataOn(backend);
        BufferView? arg = InPlace(bottom, top) ? _deviceArg.On(backend, x.Count) : (BufferView?)null;
        backend.LogForward(x, top[0].MutableDataOn(backend), _scale, _shift, _baseScale, arg);
    }

    public override void BackwardOn(IBackend backend, IReadOnlyList<Blob> top, IReadOnlyList<bool> propagateDown, IReadOnlyList<Blob> bottom)
    {
        if (!propagateDown[0]) return;
        var dy = top[0].DiffOn(backend);
        float k = _scale * _baseScale;
        if (InPlace(bottom, top))
            backend.LogBackward(_deviceArg.On(backend, dy.Count), dy, bottom[0].MutableDiffOn(backend), 1f, 0f, k);
        else
            backend.LogBackward(bottom[0].DataOn(backend), dy, bottom[0].MutableDiffOn(backend), _scale, _shift, k);
    }
}
