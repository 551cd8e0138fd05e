using System.Numerics;
using System.Numerics.Tensors;
using Engine.Backends;
using Engine.Core;
using Engine.Proto;

namespace Engine.Layers;

/// <summary>
/// Hyperbolic tangent: y = tanh x. Backward from the top data, so it works in place:
/// dx = dy·(1 − y²).
/// </summary>
[LayerType("TanH")]
public sealed class TanHLayer : NeuronLayer
{
    public TanHLayer(LayerParameter param) : base(param) { }

    public override void Forward(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top) =>
        ForPieces(bottom[0].Count, (X: bottom[0], Y: top[0]), static (s, n, st) => TensorPrimitives.Tanh(st.X.Data.Slice(s, n), st.Y.Data.Slice(s, n)));

    public override void Backward(IReadOnlyList<Blob> top, IReadOnlyList<bool> propagateDown, IReadOnlyList<Blob> bottom)
    {
        if (!propagateDown[0]) return;
        ForPieces(top[0].Count, (Top: top[0], Bottom: bottom[0]), static (s, n, st) =>
            Gradient(st.Top.Data.Slice(s, n), st.Top.Diff.Slice(s, n), st.Bottom.Diff.Slice(s, n)));
    }

    private static void Gradient(ReadOnlySpan<float> y, ReadOnlySpan<float> dy, Span<float> dx)
    {
        int i = 0;
        if (Vector.IsHardwareAccelerated)
        {
            for (; i <= y.Length - Vector<float>.Count; i += Vector<float>.Count)
            {
                var v = new Vector<float>(y[i..]);
                (new Vector<float>(dy[i..]) * (Vector<float>.One - v * v)).CopyTo(dx[i..]);
            }
        }
        for (; i < y.Length; i++) dx[i] = dy[i] * (1f - y[i] * y[i]);
    }

    public override bool RunsOnDevice => true;

    public override void ForwardOn(IBackend backend, IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top) =>
        backend.TanhForward(bottom[0].DataOn(backend), top[0].MutableDataOn(backend));

    public override void BackwardOn(IBackend backend, IReadOnlyList<Blob> top, IReadOnlyList<bool> propagateDown, IReadOnlyList<Blob> bottom)
    {
        if (!propagateDown[0]) return;
        backend.TanhBackward(top[0].DataOn(backend), top[0].DiffOn(backend), bottom[0].MutableDiffOn(backend));
    }
}
