using System.Numerics.Tensors;
using Engine.Backends;
using Engine.Core;
using Engine.Proto;

namespace Engine.Layers;

/// <summary>
/// Binomial normal log likelihood, softplus: y = log(1 + eˣ), computed stably as
/// max(x, 0) + log(1 + e^−|x|). The derivative σ(x) is recovered from the top as 1 − e^−y, so
/// backward works in place.
/// </summary>
[LayerType("BNLL")]
public sealed class BNLLLayer : NeuronLayer
{
    private float[] _work = [];

    public BNLLLayer(LayerParameter param) : base(param) { }

    public override void Reshape(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        base.Reshape(bottom, top);
        if (_work.Length < bottom[0].Count) _work = new float[bottom[0].Count];
    }

    public override void Forward(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        ForPieces(bottom[0].Count, (Layer: this, X: bottom[0], Y: top[0]), static (s, n, st) =>
            Compute(st.X.Data.Slice(s, n), st.Y.Data.Slice(s, n), st.Layer._work.AsSpan(s, n)));
    }

    public override void Backward(IReadOnlyList<Blob> top, IReadOnlyList<bool> propagateDown, IReadOnlyList<Blob> bottom)
    {
        if (!propagateDown[0]) return;
        ForPieces(top[0].Count, (Layer: this, Top: top[0], Bottom: bottom[0]), static (s, n, st) =>
            Gradient(st.Top.Data.Slice(s, n), st.Top.Diff.Slice(s, n), st.Bottom.Diff.Slice(s, n), st.Layer._work.AsSpan(s, n)));
    }

    /// <summary>y = max(x, 0) + log(1 + e^−|x|), with a scratch t of x's length (y may be x).</summary>
    internal static void Compute(ReadOnlySpan<float> x, Span<float> y, Span<float> t)
    {
        TensorPrimitives.Abs(x, t);
        TensorPrimitives.Negate(t, t);
        TensorPrimitives.Exp(t, t);
        TensorPrimitives.LogP1(t, t);
        TensorPrimitives.Max(x, 0f, y);
        TensorPrimitives.Add(y, t, y);
    }

    /// <summary>dx = dy − dy·e^−y (σ(x) = 1 − e^−y), with a scratch t of y's length.</summary>
    internal static void Gradient(ReadOnlySpan<float> y, ReadOnlySpan<float> dy, Span<float> dx, Span<float> t)
    {
        TensorPrimitives.Negate(y, t);
        TensorPrimitives.Exp(t, t);
        TensorPrimitives.Multiply(dy, t, t);
        TensorPrimitives.Subtract(dy, t, dx);
    }

    public override bool RunsOnDevice => true;

    public override void ForwardOn(IBackend backend, IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top) =>
        backend.BnllForward(bottom[0].DataOn(backend), top[0].MutableDataOn(backend));

    public override void BackwardOn(IBackend backend, IReadOnlyList<Blob> top, IReadOnlyList<bool> propagateDown, IReadOnlyList<Blob> bottom)
    {
        if (!propagateDown[0]) return;
        backend.BnllBackward(top[0].DataOn(backend), top[0].DiffOn(backend), bottom[0].MutableDiffOn(backend));
    }
}
