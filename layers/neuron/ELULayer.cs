using Engine.Core;
using Engine.Proto;

namespace Engine.Layers;

/// <summary>
/// Exponential linear unit: y = x where x &gt; 0, α(eˣ − 1) elsewhere (elu_param.alpha, default 1).
/// Backward as Caffe: dx = dy where x &gt; 0, dy·(y + α) elsewhere. In place the bottom holds y,
/// which is positive exactly where x is (for α ≥ 0), so the same test works.
/// </summary>
[LayerType("ELU")]
public sealed class ELULayer : NeuronLayer
{
    private float _alpha;

    public ELULayer(LayerParameter param) : base(param) { }

    public override void LayerSetUp(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        _alpha = Param.EluParam?.Alpha ?? 1f;
        if (!float.IsFinite(_alpha) || _alpha < 0) throw Error($"elu_param.alpha must be finite and ≥ 0, got {_alpha}");
    }

    public override void Forward(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        ReadOnlySpan<float> x = bottom[0].Data;
        Span<float> y = top[0].Data;
        for (int i = 0; i < x.Length; i++)
        {
            float v = x[i];
            y[i] = v > 0 ? v : _alpha * (MathF.Exp(v) - 1f);
        }
    }

    public override void Backward(IReadOnlyList<Blob> top, IReadOnlyList<bool> propagateDown, IReadOnlyList<Blob> bottom)
    {
        if (!propagateDown[0]) return;
        ReadOnlySpan<float> x = bottom[0].Data;
        ReadOnlySpan<float> y = top[0].Data;
        ReadOnlySpan<float> dy = top[0].Diff;
        Span<float> dx = bottom[0].Diff;
        for (int i = 0; i < x.Length; i++) dx[i] = x[i] > 0 ? dy[i] : dy[i] * (y[i] + _alpha);
    }
}
