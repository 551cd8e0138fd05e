using Engine.Backends;
using Engine.Core;
using Engine.Proto;

namespace Engine.Layers;

/// <summary>y = 1 where x &gt; threshold, else 0 (threshold_param.threshold, default 0). No gradient.</summary>
[LayerType("Threshold")]
public sealed class ThresholdLayer : NeuronLayer
{
    private float _threshold;

    public ThresholdLayer(LayerParameter param) : base(param) { }

    public override bool CanBackward(int bottomIndex) => false;

    public override bool AllowForceBackward(int bottomIndex) => false;

    public override void LayerSetUp(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top) =>
        _threshold = Param.ThresholdParam?.Threshold ?? 0f;

    public override void Forward(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top) =>
        ForPieces(bottom[0].Count, (Layer: this, X: bottom[0], Y: top[0]), static (s, n, st) =>
            Compute(st.X.Data.Slice(s, n), st.Layer._threshold, st.Y.Data.Slice(s, n)));

    /// <summary>y = 1 where x &gt; threshold, else 0 (y may be x).</summary>
    internal static void Compute(ReadOnlySpan<float> x, float threshold, Span<float> y)
    {
        for (int i = 0; i < x.Length; i++) y[i] = x[i] > threshold ? 1f : 0f;
    }

    public override bool RunsOnDevice => true;

    public override void ForwardOn(IBackend backend, IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top) =>
        backend.ThresholdForward(bottom[0].DataOn(backend), top[0].MutableDataOn(backend), _threshold);

    // No gradient, as on the host: the base Backward refuses any propagate_down without touching data.
    public override void BackwardOn(IBackend backend, IReadOnlyList<Blob> top, IReadOnlyList<bool> propagateDown, IReadOnlyList<Blob> bottom) =>
        Backward(top, propagateDown, bottom);
}
