using System.Numerics.Tensors;
using Engine.Backends;
using Engine.Core;
using Engine.Proto;

namespace Engine.Layers;

/// <summary>y = |x|; dx = sign(x)·dy (0 at x = 0). Needs x in backward, so not in place (as Caffe).</summary>
[LayerType("AbsVal")]
public sealed class AbsValLayer : NeuronLayer
{
    public AbsValLayer(LayerParameter param) : base(param) { }

    public override void Reshape(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        if (InPlace(bottom, top)) throw Error($"top \"{top[0].Name}\" is the bottom itself; AbsVal does not work in place");
        base.Reshape(bottom, top);
    }

    public override void Forward(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top) =>
        ForPieces(bottom[0].Count, (X: bottom[0], Y: top[0]), static (s, n, st) => TensorPrimitives.Abs(st.X.Data.Slice(s, n), st.Y.Data.Slice(s, n)));

    public override void Backward(IReadOnlyList<Blob> top, IReadOnlyList<bool> propagateDown, IReadOnlyList<Blob> bottom)
    {
        if (!propagateDown[0]) return;
        ForPieces(top[0].Count, (Top: top[0], Bottom: bottom[0]), static (s, n, st) =>
            Gradient(st.Bottom.Data.Slice(s, n), st.Top.Diff.Slice(s, n), st.Bottom.Diff.Slice(s, n)));
    }

    /// <summary>dx = sign(x)·dy (0 at x = 0).</summary>
    internal static void Gradient(ReadOnlySpan<float> x, ReadOnlySpan<float> dy, Span<float> dx)
    {
        for (int i = 0; i < x.Length; i++) dx[i] = x[i] > 0 ? dy[i] : x[i] < 0 ? -dy[i] : 0f;
    }

    public override bool RunsOnDevice => true;

    public override void ForwardOn(IBackend backend, IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top) =>
        backend.AbsForward(bottom[0].DataOn(backend), top[0].MutableDataOn(backend));

    public override void BackwardOn(IBackend backend, IReadOnlyList<Blob> top, IReadOnlyList<bool> propagateDown, IReadOnlyList<Blob> bottom)
    {
        if (!propagateDown[0]) return;
        backend.AbsBackward(bottom[0].DataOn(backend), top[0].DiffOn(backend), bottom[0].MutableDiffOn(backend));
    }
}
