using System.Numerics;
using System.Numerics.Tensors;
using Engine.Backends;
using Engine.Core;
using Engine.Cpu;
using Engine.Proto;

namespace Engine.Layers;

/// <summary>
/// Rectified linear unit: y = max(x, 0) + negative_slope·min(x, 0) (leaky with a slope).
/// Backward: dx = dy where x &gt; 0, negative_slope·dy elsewhere (Caffe's convention at 0).
/// In place the bottom data holds y, which has the sign of x for any slope ≥ 0, so the same
/// test works; a negative slope in place keeps the derivative from forward instead.
/// </summary>
[LayerType("ReLU")]
public sealed class ReLULayer : NeuronLayer
{
    private float _slope;
    private float[] _derivative = [];
    private bool _inPlace;

    public ReLULayer(LayerParameter param) : base(param) { }

    public override void LayerSetUp(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        _slope = Param.ReluParam?.NegativeSlope ?? 0f;
        if (!float.IsFinite(_slope)) throw Error($"relu_param.negative_slope must be finite, got {_slope}");
    }

    private bool KeepsDerivative(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top) => _slope < 0 && InPlace(bottom, top);

    public override void Reshape(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        base.Reshape(bottom, top);
        _inPlace = InPlace(bottom, top);
        if (KeepsDerivative(bottom, top) && _derivative.Length < bottom[0].Count) _derivative = new float[bottom[0].Count];
    }

    // Large blobs are cut into one piece per thread (ForPieces); each element's result is the same.
    public override void Forward(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top) =>
        ForPieces(bottom[0].Count, (Layer: this, Bottom: bottom, Top: top), static (start, count, st) =>
        {
            ReadOnlySpan<float> x = st.Bottom[0].Data.Slice(start, count);
            Span<float> y = st.Top[0].Data.Slice(start, count);
            if (st.Layer.KeepsDerivative(st.Bottom, st.Top)) SelectBySign(x, 1f, st.Layer._slope, st.Layer._derivative.AsSpan(start, count));
            if (st.Layer._slope == 0f) TensorPrimitives.Max(x, 0f, y);
            else ScaleNegatives(x, st.Layer._slope, y);
        });

    public override void Backward(IReadOnlyList<Blob> top, IReadOnlyList<bool> propagateDown, IReadOnlyList<Blob> bottom)
    {
        if (!propagateDown[0]) return;
        ForPieces(bottom[0].Count, (Layer: this, Bottom: bottom, Top: top), static (start, count, st) =>
        {
            ReadOnlySpan<float> dy = st.Top[0].Diff.Slice(start, count);
            Span<float> dx = st.Bottom[0].Diff.Slice(start, count);
            if (st.Layer.KeepsDerivative(st.Bottom, st.Top))
                TensorPrimitives.Multiply(dy, st.Layer._derivative.AsSpan(start, count), dx);
            else
                MaskedGradient(st.Bottom[0].Data.Slice(start, count), dy, st.Layer._slope, dx);
        });
    }

    // On a device the test for x > 0 reads the top in place, which keeps x's sign for a slope ≥ 0;
    // a negative slope in place needs the kept derivative and stays on the host.
    public override bool RunsOnDevice => !(_slope < 0 && _inPlace);

    public override void ForwardOn(IBackend backend, IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top) =>
        backend.ReluForward(bottom[0].DataOn(backend), top[0].MutableDataOn(backend), _slope);

    public override void BackwardOn(IBackend backend, IReadOnlyList<Blob> top, IReadOnlyList<bool> propagateDown, IReadOnlyList<Blob> bottom)
    {
        if (!propagateDown[0]) return;
        backend.ReluBackward(bottom[0].DataOn(backend), top[0].DiffOn(backend), bottom[0].MutableDiffOn(backend), _slope);
    }

    /// <summary>y = x where x &gt; 0, slope·x elsewhere.</summary>
    private static void ScaleNegatives(ReadOnlySpan<float> x, float slope, Span<float> y)
    {
        int i = 0;
        if (Vector.IsHardwareAccelerated)
        {
            var s = new Vector<float>(slope);
            for (; i <= x.Length - Vector<float>.Count; i += Vector<float>.Count)
            {
                var v = new Vector<float>(x[i..]);
                Vector.ConditionalSelect(Vector.GreaterThan(v, Vector<float>.Zero), v, v * s).CopyTo(y[i..]);
            }
        }
        for (; i < x.Length; i++) y[i] = x[i] > 0 ? x[i] : slope * x[i];
    }

    /// <summary>dx = dy where x &gt; 0, slope·dy elsewhere.</summary>
    private static void MaskedGradient(ReadOnlySpan<float> x, ReadOnlySpan<float> dy, float slope, Span<float> dx)
    {
        int i = 0;
        if (Vector.IsHardwareAccelerated)
        {
            var s = new Vector<float>(slope);
            for (; i <= x.Length - Vector<float>.Count; i += Vector<float>.Count)
            {
                var g = new Vector<float>(dy[i..]);
                Vector.ConditionalSelect(Vector.GreaterThan(new Vector<float>(x[i..]), Vector<float>.Zero), g, g * s).CopyTo(dx[i..]);
            }
        }
        for (; i < x.Length; i++) dx[i] = x[i] > 0 ? dy[i] : slope * dy[i];
    }

    /// <summary>out = positive where x &gt; 0, other elsewhere.</summary>
    private static void SelectBySign(ReadOnlySpan<float> x, float positive, float other, Span<float> result)
    {
        int i = 0;
        if (Vector.IsHardwareAccelerated)
        {
            var p = new Vector<float>(positive);
            var o = new Vector<float>(other);
            for (; i <= x.Length - Vector<float>.Count; i += Vector<float>.Count)
                Vector.ConditionalSelect(Vector.GreaterThan(new Vector<float>(x[i..]), Vector<float>.Zero), p, o).CopyTo(result[i..]);
        }
        for (; i < x.Length; i++) result[i] = x[i] > 0 ? positive : other;
    }
}
