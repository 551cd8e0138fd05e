using System.Numerics.Tensors;
using Engine.Core;
using Engine.Proto;

namespace Engine.Layers;

/// <summary>
/// y = base^(shift + scale·x) (exp_param: base −1 = e, scale 1, shift 0), computed as
/// base^shift · e^(ln(base)·scale·x). Backward from the top, so in place works: dx = dy·y·ln(base)·scale.
/// </summary>
[LayerType("Exp")]
public sealed class ExpLayer : NeuronLayer
{
    private float _innerScale, _outerScale;

    public ExpLayer(LayerParameter param) : base(param) { }

    public override void LayerSetUp(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        var p = Param.ExpParam ?? new ExpParameter();
        if (p.Base != -1f && !(p.Base > 0f)) throw Error($"exp_param.base must be -1 (for e) or positive, got {p.Base}");
        double logBase = p.Base == -1f ? 1.0 : Math.Log(p.Base);
        _innerScale = (float)(logBase * p.Scale);
        _outerScale = p.Shift == 0f ? 1f : (float)Math.Exp(logBase * p.Shift);
    }

    public override void Forward(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        Span<float> y = top[0].Data;
        if (_innerScale == 1f) TensorPrimitives.Exp(bottom[0].Data, y);
        else
        {
            TensorPrimitives.Multiply(bottom[0].Data, _innerScale, y);
            TensorPrimitives.Exp(y, y);
        }
        if (_outerScale != 1f) TensorPrimitives.Multiply(y, _outerScale, y);
    }

    public override void Backward(IReadOnlyList<Blob> top, IReadOnlyList<bool> propagateDown, IReadOnlyList<Blob> bottom)
    {
        if (!propagateDown[0]) return;
        Span<float> dx = bottom[0].Diff;
        TensorPrimitives.Multiply(top[0].Data, top[0].Diff, dx);
        if (_innerScale != 1f) TensorPrimitives.Multiply(dx, _innerScale, dx);
    }
}
