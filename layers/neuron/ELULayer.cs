using Engine.Backends;
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

    public override void Forward(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top) =>
        ForPieces(bottom[0].Count, (Layer: this, X: bottom[0], Y: top[0]), static (s, n, st) =>
            Compute(st.X.Data.Slice(s, n), st.Layer._alpha, st.Y.Data.Slice(s, n)));

    public override void Backward(IReadOnlyList<Blob> top, IReadOnlyList<bool> propagateDown, IReadOnlyList<Blob> bottom)
    {
        if (!propagateDown[0]) return;
        ForPieces(top[0].Count, (Layer: this, Top: top[0], Bottom: bottom[0]), static (s, n, st) =>
            Gradient(st.Bottom.Data.Slice(s, n), st.Top.Data.Slice(s, n), st.Top.Diff.Slice(s, n), st.Layer._alpha, st.Bottom.Diff.Slice(s, n)));
    }

    /// <summary>y = x where x &gt; 0, α(eˣ − 1) elsewhere (y may be x).</summary>
    internal static void Compute(ReadOnlySpan<float> x, float alpha, Span<float> y)
    {
        for (int i = 0; i < x.Length; i++)
        {
            float v = x[i];
            y[i] = v > 0 ? v : alpha * (MathF.Exp(v) - 1f);
        }
    }

    /// <summary>dx = dy where x &gt; 0, dy·(y + α) elsewhere.</summary>
    internal static void Gradient(ReadOnlySpan<float> x, ReadOnlySpan<float> y, ReadOnlySpan<float> dy, float alpha, Span<float> dx)
    {
        for (int i = 0; i < x.Length; i++) dx[i] = x[i] > 0 ? dy[i] : dy[i] * (y[i] + alpha);
    }

    // In place the bottom holds y, which has x's sign (α ≥ 0), so the device code is the host's.
    public override bool RunsOnDevice => true;

    public override void ForwardOn(IBackend backend, IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top) =>
        backend.EluForward(bottom[0].DataOn(backend), top[0].MutableDataOn(backend), _alpha);

    public override void BackwardOn(IBackend backend, IReadOnlyList<Blob> top, IReadOnlyList<bool> propagateDown, IReadOnlyList<Blob> bottom)
    {
        if (!propagateDown[0]) return;
        backend.EluBackward(bottom[0].DataOn(backend), top[0].DataOn(backend), top[0].DiffOn(backend),
            bottom[0].MutableDiffOn(backend), _alpha);
    }
}
