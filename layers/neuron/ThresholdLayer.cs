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

    public override void Forward(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        ReadOnlySpan<float> x = bottom[0].Data;
        Span<float> y = top[0].Data;
        for (int i = 0; i < x.Length; i++) y[i] = x[i] > _threshold ? 1f : 0f;
    }
}
