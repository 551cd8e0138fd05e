using System.Numerics.Tensors;
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
        ReadOnlySpan<float> x = bottom[0].Data;
        if (InPlace(bottom, top)) Mask(x, _mask.AsSpan(0, x.Length));
        Span<float> y = top[0].Data;
        TensorPrimitives.Max(x, _min, y);
        TensorPrimitives.Min(y, _max, y);
    }

    public override void Backward(IReadOnlyList<Blob> top, IReadOnlyList<bool> propagateDown, IReadOnlyList<Blob> bottom)
    {
        if (!propagateDown[0]) return;
        Span<float> dx = bottom[0].Diff;
        if (InPlace(bottom, top))
        {
            TensorPrimitives.Multiply(top[0].Diff, _mask.AsSpan(0, dx.Length), dx);
            return;
        }
        ReadOnlySpan<float> x = bottom[0].Data;
        ReadOnlySpan<float> dy = top[0].Diff;
        for (int i = 0; i < x.Length; i++) dx[i] = x[i] >= _min && x[i] <= _max ? dy[i] : 0f;
    }

    private void Mask(ReadOnlySpan<float> x, Span<float> mask)
    {
        for (int i = 0; i < x.Length; i++) mask[i] = x[i] >= _min && x[i] <= _max ? 1f : 0f;
    }
}
