using System.Numerics.Tensors;
using Engine.Backends;
using Engine.Core;
using Engine.Proto;

namespace Engine.Layers;

/// <summary>
/// Swish: y = x·σ(βx) (swish_param.beta, default 1). σ(βx) is kept from forward, so backward
/// works in place: dx = dy·(βy + σ(βx)·(1 − βy)).
/// </summary>
[LayerType("Swish")]
public sealed class SwishLayer : NeuronLayer
{
    private float _beta;
    private float[] _sigmoid = [];

    public SwishLayer(LayerParameter param) : base(param) { }

    public override void LayerSetUp(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        _beta = Param.SwishParam?.Beta ?? 1f;
        if (!float.IsFinite(_beta)) throw Error($"swish_param.beta must be finite, got {_beta}");
    }

    public override void Reshape(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        base.Reshape(bottom, top);
        if (_sigmoid.Length < bottom[0].Count) _sigmoid = new float[bottom[0].Count];
    }

    public override void Forward(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        ForPieces(bottom[0].Count, (Layer: this, X: bottom[0], Y: top[0]), static (s, n, st) =>
            Compute(st.X.Data.Slice(s, n), st.Layer._beta, st.Layer._sigmoid.AsSpan(s, n), st.Y.Data.Slice(s, n)));
    }

    public override void Backward(IReadOnlyList<Blob> top, IReadOnlyList<bool> propagateDown, IReadOnlyList<Blob> bottom)
    {
        if (!propagateDown[0]) return;
        ForPieces(top[0].Count, (Layer: this, Top: top[0], Bottom: bottom[0]), static (s, n, st) =>
            Gradient(st.Top.Data.Slice(s, n), st.Top.Diff.Slice(s, n), st.Layer._sigmoid.AsSpan(s, n), st.Layer._beta, st.Bottom.Diff.Slice(s, n)));
    }

    /// <summary>s = σ(βx), y = x·s (y may be x).</summary>
    internal static void Compute(ReadOnlySpan<float> x, float beta, Span<float> s, Span<float> y)
    {
        TensorPrimitives.Multiply(x, beta, s);
        TensorPrimitives.Sigmoid(s, s);
        TensorPrimitives.Multiply(x, s, y);
    }

    /// <summary>dx = dy·(βy + s·(1 − βy)).</summary>
    internal static void Gradient(ReadOnlySpan<float> y, ReadOnlySpan<float> dy, ReadOnlySpan<float> s, float beta, Span<float> dx)
    {
        for (int i = 0; i < y.Length; i++)
        {
            float by = beta * y[i];
            dx[i] = dy[i] * (by + s[i] * (1f - by));
        }
    }

    // The device keeps σ(βx) in a device buffer, as the host does in _sigmoid.
    private readonly DeviceBuffer _deviceSigmoid = new();

    public override bool RunsOnDevice => true;

    public override void ForwardOn(IBackend backend, IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        var x = bottom[0].DataOn(backend);
        backend.SwishForward(x, top[0].MutableDataOn(backend), _deviceSigmoid.On(backend, x.Count), _beta);
    }

    public override void BackwardOn(IBackend backend, IReadOnlyList<Blob> top, IReadOnlyList<bool> propagateDown, IReadOnlyList<Blob> bottom)
    {
        if (!propagateDown[0]) return;
        var y = top[0].DataOn(backend);
        backend.SwishBackward(y, _deviceSigmoid.On(backend, y.Count), top[0].DiffOn(backend), bottom[0].MutableDiffOn(backend), _beta);
    }
}
