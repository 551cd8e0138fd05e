using System.Numerics.Tensors;
using Engine.Backends;
using Engine.Core;
using Engine.Proto;

namespace Engine.Layers;

/// <summary>
/// Gives one blob to several consumers (the net inserts it where a blob is read twice): every
/// top shares the bottom's data, and backward sums the tops' gradients into the bottom's.
/// </summary>
[LayerType("Split")]
public sealed class SplitLayer : Layer
{
    public SplitLayer(LayerParameter param) : base(param) { }

    public override int ExactBottoms => 1;
    public override int MinTops => 1;

    public override void Reshape(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        for (int t = 0; t < top.Count; t++)
        {
            if (ReferenceEquals(top[t], bottom[0]))
                throw Error($"top {t} \"{top[t].Name}\" is the bottom itself; Split does not work in place");
            top[t].ReshapeLike(bottom[0]);
            top[t].ShareData(bottom[0]);
        }
    }

    public override void Forward(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top) { }

    public override void Backward(IReadOnlyList<Blob> top, IReadOnlyList<bool> propagateDown, IReadOnlyList<Blob> bottom)
    {
        if (!propagateDown[0]) return;
        Span<float> dx = bottom[0].Diff;
        if (top.Count == 1)
        {
            top[0].Diff.CopyTo(dx);
            return;
        }
        TensorPrimitives.Add(top[0].Diff, top[1].Diff, dx);
        for (int t = 2; t < top.Count; t++) TensorPrimitives.Add(dx, top[t].Diff, dx);
    }

    // The tops share the bottom's data (and so its device buffer): forward only makes sure the
    // data is on the device; backward sums the tops' gradients there.
    public override bool RunsOnDevice => true;

    public override void ForwardOn(IBackend backend, IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top) =>
        bottom[0].DataOn(backend);

    public override void BackwardOn(IBackend backend, IReadOnlyList<Blob> top, IReadOnlyList<bool> propagateDown, IReadOnlyList<Blob> bottom)
    {
        if (!propagateDown[0]) return;
        var dx = bottom[0].MutableDiffOn(backend);
        if (top.Count == 1)
        {
            backend.Copy(top[0].DiffOn(backend), dx);
            return;
        }
        backend.Add(top[0].DiffOn(backend), top[1].DiffOn(backend), dx);
        for (int t = 2; t < top.Count; t++) backend.Add(dx, top[t].DiffOn(backend), dx);
    }
}
