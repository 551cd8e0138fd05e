using System.Numerics.Tensors;
using Engine.Backends;
using Engine.Core;
using Engine.Proto;

namespace Engine.Layers;

/// <summary>
/// y = min(max(x, min), max) (clip_param: both required, min ≤ max). Backward: dx = dy where
/// min ≤ x ≤ max, 0 elsewhere (Caffe's convention at the bounds). In place the mask is kept
/// from forward.
/// </summary>
[LayerType("Clip")]
public sealed class ClipLayer : NeuronLayer
{
    private float _min, _max;
    private float[] _mask = [];

    public ClipLayer(LayerParameter param) : base(param) { }

    public override void LayerSetUp(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        var p = Param.ClipParam;
        if (p == null || !p.HasMin || !p.HasMax) throw Error("clip_param with both min and max is required");
        if (float.IsNaN(p.Min) || float.IsNaN(p.Max) || p.Min > p.Max) throw Error($"clip_param.min ({p.Min}) must not exceed clip_param.max ({p.Max})");
        (_min, _max) = (p.Min, p.Max);
    }

    public override void Reshape(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        base.Reshape(bottom, top);
        if (InPlace(bottom, top) && _mask.Length < bottom[0].Count) _mask = new float[bottom[0].Count];
    }

    public override void Forward(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        ForPieces(bottom[0].Count, (Layer: this, X: bottom[0], Y: top[0], InPlace: InPlace(bottom, top)), static (s, n, st) =>
        {
            ReadOnlySpan<float> x = st.X.Data.Slice(s, n);
            var layer = st.Layer;
            if (st.InPlace) Mask(x, layer._min, layer._max, layer._mask.AsSpan(s, n));
            Clamp(x, layer._min, layer._max, st.Y.Data.Slice(s, n));
        });
    }

    public override void Backward(IReadOnlyList<Blob> top, IReadOnlyList<bool> propagateDown, IReadOnlyList<Blob> bottom)
    {
        if (!propagateDown[0]) return;
        ForPieces(bottom[0].Count, (Layer: this, Top: top[0], Bottom: bottom[0], InPlace: InPlace(bottom, top)), static (s, n, st) =>
        {
            Span<float> dx = st.Bottom.Diff.Slice(s, n);
            if (st.InPlace) TensorPrimitives.Multiply(st.Top.Diff.Slice(s, n), st.Layer._mask.AsSpan(s, n), dx);
            else Gradient(st.Bottom.Data.Slice(s, n), st.Top.Diff.Slice(s, n), st.Layer._min, st.Layer._max, dx);
        });
    }

    /// <summary>y = min(max(x, min), max) (y may be x).</summary>
    internal static void Clamp(ReadOnlySpan<float> x, float min, float max, Span<float> y)
    {
        TensorPrimitives.Max(x, min, y);
        TensorPrimitives.Min(y, max, y);
    }

    /// <summary>dx = dy where min ≤ x ≤ max, 0 elsewhere.</summary>
    internal static void Gradient(ReadOnlySpan<float> x, ReadOnlySpan<float> dy, float min, float max, Span<float> dx)
    {
        for (int i = 0; i < x.Length; i++) dx[i] = x[i] >= min && x[i] <= max ? dy[i] : 0f;
    }

    /// <summary>mask = 1 where min ≤ x ≤ max, 0 elsewhere.</summary>
    internal static void Mask(ReadOnlySpan<float> x, float min, float max, Span<float> mask)
    {
        for (int i = 0; i < x.Length; i++) mask[i] = x[i] >= min && x[i] <= max ? 1f : 0f;
    }

    // On a device in place the mask is kept in a device buffer, as the host keeps it in _mask.
    private readonly DeviceBuffer _deviceMask = new();

    public override bool RunsOnDevice => true;

    public override void ForwardOn(IBackend backend, IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        var x = bottom[0].DataOn(backend);
        BufferView? mask = InPlace(bottom, top) ? _deviceMask.On(backend, x.Count) : (BufferView?)null;
        backend.ClipForward(x, top[0].MutableDataOn(backend), _min, _max, mask);
    }

    public override void BackwardOn(IBackend backend, IReadOnlyList<Blob> top, IReadOnlyList<bool> propagateDown, IReadOnlyList<Blob> bottom)
    {
        if (!propagateDown[0]) return;
        var dy = top[0].DiffOn(backend);
        if (InPlace(bottom, top))
            backend.Mul(dy, _deviceMask.On(backend, dy.Count), bottom[0].MutableDiffOn(backend));
        else
            backend.ClipBackward(bottom[0].DataOn(backend), dy, bottom[0].MutableDiffOn(backend), _min, _max);
    }
}
