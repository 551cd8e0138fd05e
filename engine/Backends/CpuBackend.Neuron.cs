using System.Buffers;
using System.Numerics.Tensors;
using Engine.Layers;

namespace Engine.Backends;

/// <summary>The neuron layers' primitives on host arrays: each runs its layer's own host code.</summary>
public sealed partial class CpuBackend
{
    public void AbsForward(BufferView x, BufferView y)
    {
        Same(x.Count, y.Count);
        TensorPrimitives.Abs(Span(x), Span(y));
    }

    public void AbsBackward(BufferView x, BufferView dy, BufferView dx)
    {
        Same(x.Count, dy.Count, dx.Count);
        AbsValLayer.Gradient(Span(x), Span(dy), Span(dx));
    }

    public void BnllForward(BufferView x, BufferView y)
    {
        Same(x.Count, y.Count);
        using var t = new Scratch(x.Count);
        BNLLLayer.Compute(Span(x), Span(y), t.Span);
    }

    public void BnllBackward(BufferView y, BufferView dy, BufferView dx)
    {
        Same(y.Count, dy.Count, dx.Count);
        using var t = new Scratch(y.Count);
        BNLLLayer.Gradient(Span(y), Span(dy), Span(dx), t.Span);
    }

    public void ClipForward(BufferView x, BufferView y, float min, float max, BufferView? mask = null)
    {
        Same(x.Count, y.Count);
        if (mask is { } m)
        {
            Same(x.Count, m.Count);
            ClipLayer.Mask(Span(x), min, max, Span(m));
        }
        ClipLayer.Clamp(Span(x), min, max, Span(y));
    }

    public void ClipBackward(BufferView x, BufferView dy, BufferView dx, float min, float max)
    {
        Same(x.Count, dy.Count, dx.Count);
        ClipLayer.Gradient(Span(x), Span(dy), min, max, Span(dx));
    }

    public void EluForward(BufferView x, BufferView y, float alpha)
    {
        Same(x.Count, y.Count);
        ELULayer.Compute(Span(x), alpha, Span(y));
    }

    public void EluBackward(BufferView x, BufferView y, BufferView dy, BufferView dx, float alpha)
    {
        Same(x.Count, y.Count, dy.Count);
        Same(x.Count, dx.Count);
        ELULayer.Gradient(Span(x), Span(y), Span(dy), alpha, Span(dx));
    }

    public void ExpForward(BufferView x, BufferView y, float innerScale, float outerScale)
    {
        Same(x.Count, y.Count);
        ExpLayer.Compute(Span(x), innerScale, outerScale, Span(y));
    }

    public void ExpBackward(BufferView y, BufferView dy, BufferView dx, float innerScale)
    {
        Same(y.Count, dy.Count, dx.Count);
        ExpLayer.Gradient(Span(y), Span(dy), innerScale, Span(dx));
    }

    public void LogForward(BufferView x, BufferView y, float scale, float shift, float baseScale, BufferView? arg = null)
    {
        Same(x.Count, y.Count);
        if (arg is { } a) Same(x.Count, a.Count);
        using var t = new Scratch(arg == null ? x.Count : 0);
        LogLayer.Compute(Span(x), scale, shift, baseScale, arg is { } u ? Span(u) : t.Span, Span(y));
    }

    public void LogBackward(BufferView x, BufferView dy, BufferView dx, float scale, float shift, float k)
    {
        Same(x.Count, dy.Count, dx.Count);
        using var u = new Scratch(x.Count);
        Argument(Span(x), scale, shift, u.Span);
        LogLayer.Gradient(Span(dy), u.Span, k, Span(dx));
    }

    public void PowerForward(BufferView x, BufferView y, float power, float scale, float shift, BufferView? arg = null)
    {
        Same(x.Count, y.Count);
        if (arg is { } a) Same(x.Count, a.Count);
        using var t = new Scratch(arg == null ? x.Count : 0);
        PowerLayer.Compute(Span(x), power, scale, shift, arg is { } u ? Span(u) : t.Span, Span(y));
    }

    public void PowerBackward(BufferView x, BufferView dy, BufferView dx, float power, float scale, float baseScale, float baseShift)
    {
        Same(x.Count, dy.Count, dx.Count);
        using var u = new Scratch(x.Count);
        using var d = new Scratch(x.Count);
        Argument(Span(x), baseScale, baseShift, u.Span);
        PowerLayer.Gradient(Span(dy), u.Span, power, scale, d.Span, Span(dx));
    }

    public void PReluForward(int outer, int channels, int dim, bool shared, BufferView x, BufferView a, BufferView y)
    {
        PReluShapes(outer, channels, dim, shared, x, a);
        Same(x.Count, y.Count);
        PReLULayer.Compute(Span(x), Span(a), outer, channels, dim, shared, Span(y));
    }

    public void PReluBackward(int outer, int channels, int dim, bool shared, BufferView x, BufferView a, BufferView dy, BufferView dx)
    {
        PReluShapes(outer, channels, dim, shared, x, a);
        Same(x.Count, dy.Count, dx.Count);
        PReLULayer.Gradient(Span(x), Span(dy), Span(a), outer, channels, dim, shared, Span(dx));
    }

    public void PReluSlopeGradient(int outer, int channels, int dim, bool shared, BufferView x, BufferView dy, BufferView da)
    {
        PReluShapes(outer, channels, dim, shared, x, da);
        Same(x.Count, dy.Count);
        PReLULayer.SlopeGradient(Span(x), Span(dy), outer, channels, dim, shared, Span(da));
    }

    public void SwishForward(BufferView x, BufferView y, BufferView sigmoid, float beta)
    {
        Same(x.Count, y.Count, sigmoid.Count);
        SwishLayer.Compute(Span(x), beta, Span(sigmoid), Span(y));
    }

    public void SwishBackward(BufferView y, BufferView sigmoid, BufferView dy, BufferView dx, float beta)
    {
        Same(y.Count, sigmoid.Count, dy.Count);
        Same(y.Count, dx.Count);
        SwishLayer.Gradient(Span(y), Span(dy), Span(sigmoid), beta, Span(dx));
    }

    public void ThresholdForward(BufferView x, BufferView y, float threshold)
    {
        Same(x.Count, y.Count);
        ThresholdLayer.Compute(Span(x), threshold, Span(y));
    }

    /// <summary>u = scale·x + shift as the Log and Power layers compute it (exactly x for scale 1, shift 0).</summary>
    private static void Argument(ReadOnlySpan<float> x, float scale, float shift, Span<float> u)
    {
        TensorPrimitives.Multiply(x, scale, u);
        if (shift != 0f) TensorPrimitives.Add(u, shift, u);
    }

    private static void PReluShapes(int outer, int channels, int dim, bool shared, BufferView x, BufferView slopes)
    {
        Same((long)outer * channels * dim, x.Count);
        Same(shared ? 1 : channels, slopes.Count);
    }

    /// <summary>A pooled host array of a given length for the layers' scratch (the layers keep theirs across calls).</summary>
    private readonly struct Scratch : IDisposable
    {
        private readonly float[] _array;
        private readonly int _count;

        public Scratch(int count)
        {
            _array = ArrayPool<float>.Shared.Rent(count);
            _count = count;
        }

        public Span<float> Span => _array.AsSpan(0, _count);

        public void Dispose() => ArrayPool<float>.Shared.Return(_array);
    }
}
