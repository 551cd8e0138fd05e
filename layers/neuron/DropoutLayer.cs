using System.Numerics.Tensors;
using Engine.Backends;
using Engine.Core;
using Engine.Proto;

namespace Engine.Layers;

/// <summary>
/// Dropout (Caffe's inverted form). TRAIN: each element is kept with probability 1 − p and
/// scaled by 1/(1 − p), otherwise zeroed, so the expected output equals the input; the mask is
/// drawn from the layer's own <see cref="Layer.Rng"/>, which snapshots save, so a resumed run
/// draws the same masks. TEST: identity. May run in place.
/// </summary>
[LayerType("Dropout")]
public sealed class DropoutLayer : NeuronLayer
{
    private float _ratio, _scale;
    // Per element: 0 (dropped) or 1/(1 − p) (kept); top = bottom · mask.
    private float[] _mask = [];

    public DropoutLayer(LayerParameter param) : base(param) { }

    public float Ratio => _ratio;

    public override void LayerSetUp(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        _ratio = Param.DropoutParam?.DropoutRatio ?? 0.5f;
        if (!(_ratio >= 0f && _ratio < 1f))
            throw Error($"dropout_param.dropout_ratio must be in [0, 1), got {_ratio}");
        _scale = 1f / (1f - _ratio);
    }

    public override void Reshape(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        base.Reshape(bottom, top);
        if (_mask.Length < bottom[0].Count) _mask = new float[bottom[0].Count];
    }

    public override void Forward(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        ReadOnlySpan<float> x = bottom[0].Data;
        Span<float> y = top[0].Data;
        if (Phase != Phase.Train)
        {
            if (!InPlace(bottom, top)) x.CopyTo(y);
            return;
        }
        TensorPrimitives.Multiply(x, DrawMask(x.Length), y);
    }

    /// <summary>The next <paramref name="count"/> mask values from the layer's generator.</summary>
    private Span<float> DrawMask(int count)
    {
        var mask = _mask.AsSpan(0, count);
        float ratio = _ratio, scale = _scale;
        var rng = Rng;
        for (int i = 0; i < mask.Length; i++) mask[i] = rng.NextFloat() < ratio ? 0f : scale;
        return mask;
    }

    // ---- device ----------------------------------------------------------------------------

    // The mask on the device: drawn on the host (the same generator and order as Forward, so the
    // same masks), uploaded each TRAIN forward and kept for backward.
    private readonly DeviceBuffer _deviceMask = new();

    public override bool RunsOnDevice => true;

    public override void ForwardOn(IBackend backend, IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        var x = bottom[0].DataOn(backend);
        if (Phase != Phase.Train)
        {
            if (!InPlace(bottom, top)) backend.Copy(x, top[0].MutableDataOn(backend));
            return;
        }
        int count = (int)bottom[0].Count;
        var mask = _deviceMask.On(backend, count);
        backend.Upload(DrawMask(count), mask);
        backend.Mul(x, mask, top[0].MutableDataOn(backend));
    }

    public override void BackwardOn(IBackend backend, IReadOnlyList<Blob> top, IReadOnlyList<bool> propagateDown, IReadOnlyList<Blob> bottom)
    {
        if (!propagateDown[0]) return;
        var dy = top[0].DiffOn(backend);
        if (Phase != Phase.Train)
        {
            if (!InPlace(bottom, top)) backend.Copy(dy, bottom[0].MutableDiffOn(backend));
            return;
        }
        backend.Mul(dy, _deviceMask.On(backend, (int)bottom[0].Count), bottom[0].MutableDiffOn(backend));
    }

    public override void Backward(IReadOnlyList<Blob> top, IReadOnlyList<bool> propagateDown, IReadOnlyList<Blob> bottom)
    {
        if (!propagateDown[0]) return;
        ReadOnlySpan<float> dy = top[0].Diff;
        Span<float> dx = bottom[0].Diff;
        if (Phase != Phase.Train)
        {
            if (!InPlace(bottom, top)) dy.CopyTo(dx);
            return;
        }
        TensorPrimitives.Multiply(dy, _mask.AsSpan(0, dy.Length), dx);
    }
}
