using System.Numerics.Tensors;
using Engine.Backends;
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

    public override void Forward(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top) =>
        ForPieces(bottom[0].Count, (Layer: this, X: bottom[0], Y: top[0]), static (s, n, st) =>
            Compute(st.X.Data.Slice(s, n), st.Layer._innerScale, st.Layer._outerScale, st.Y.Data.Slice(s, n)));

    public override void Backward(IReadOnlyList<Blob> top, IReadOnlyList<bool> propagateDown, IReadOnlyList<Blob> bottom)
    {
        if (!propagateDown[0]) return;
        ForPieces(top[0].Count, (Layer: this, Top: top[0], Bottom: bottom[0]), static (s, n, st) =>
            Gradient(st.Top.Data.Slice(s, n), st.Top.Diff.Slice(s, n), st.Layer._innerScale, st.Bottom.Diff.Slice(s, n)));
    }

    /// <summary>y = outerScale·e^(innerScale·x) (y may be x).</summary>
    internal static void Compute(ReadOnlySpan<float> x, float innerScale, float outerScale, Span<float> y)
    {
        if (innerScale == 1f) TensorPrimitives.Exp(x, y);
        else
        {
            TensorPrimitives.Multiply(x, innerScale, y);
            TensorPrimitives.Exp(y, y);
        }
        if (outerScale != 1f) TensorPrimitives.Multiply(y, outerScale, y);
    }

    /// <summary>dx = y·dy·innerScale.</summary>
    internal static void Gradient(ReadOnlySpan<float> y, ReadOnlySpan<float> dy, float innerScale, Span<float> dx)
    {
        TensorPrimitives.Multiply(y, dy, dx);
        if (innerScale != 1f) TensorPrimitives.Multiply(dx, innerScale, dx);
    }

    public override bool RunsOnDevice => true;

    public override void ForwardOn(IBackend backend, IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top) =>
        backend.ExpForward(bottom[0].DataOn(backend), top[0].MutableDataOn(backend), _innerScale, _outerScale);

    public override void BackwardOn(IBackend backend, IReadOnlyList<Blob> top, IReadOnlyList<bool> propagateDown, IReadOnlyList<Blob> bottom)
    {
        if (!propagateDown[0]) return;
        backend.ExpBackward(top[0].DataOn(backend), top[0].DiffOn(backend), bottom[0].MutableDiffOn(backend), _innerScale);
    }
}
