using Engine.Backends;
using Engine.Core;
using Engine.Proto;

namespace Engine.Layers;

/// <summary>
/// Consumes its bottoms and produces nothing (so they are not reported as outputs). Backward
/// writes zero gradients to the bottoms that ask for one.
/// </summary>
[LayerType("Silence")]
public sealed class SilenceLayer : Layer
{
    public SilenceLayer(LayerParameter param) : base(param) { }

    public override int MinBottoms => 1;
    public override int ExactTops => 0;

    public override void Reshape(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top) { }

    public override void Forward(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top) { }

    public override void Backward(IReadOnlyList<Blob> top, IReadOnlyList<bool> propagateDown, IReadOnlyList<Blob> bottom)
    {
        for (int i = 0; i < bottom.Count; i++)
            if (propagateDown[i]) bottom[i].Diff.Clear();
    }

    public override bool RunsOnDevice => true;

    public override void ForwardOn(IBackend backend, IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top) { }

    public override void BackwardOn(IBackend backend, IReadOnlyList<Blob> top, IReadOnlyList<bool> propagateDown, IReadOnlyList<Blob> bottom)
    {
        for (int i = 0; i < bottom.Count; i++)
            if (propagateDown[i]) backend.Fill(bottom[i].MutableDiffOn(backend), 0f);
    }
}
