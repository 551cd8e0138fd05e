using System.Numerics.Tensors;
using Engine.Cpu;

namespace Engine.Backends;

/// <summary>
/// <see cref="IBackend"/> on host arrays with the CPU kernels (Blas, Im2Col, TensorPrimitives).
/// Every operation completes before it returns. The layers do not use it yet: it is the CPU side
/// of the primitive set the layer refactor will write layers against (docs/opencl.md).
/// </summary>
public sealed partial class CpuBackend : IBackend
{
    public string Name => "CPU";

    public IBackendBuffer Allocate(int count) => new HostBuffer(count);

    /// <summary>The host array behind a view, as a span.</summary>
    public static Span<float> Span(BufferView v) => v.Buffer is HostBuffer h
        ? h.Array.AsSpan(v.Offset, v.Count)
        : throw new ArgumentException("a buffer of another backend was given to the CPU backend");

    public void Upload(ReadOnlySpan<float> source, BufferView destination)
    {
        Same(source.Length, destination.Count);
        source.CopyTo(Span(destination));
    }

    public void Download(BufferView source, Span<float> destination)
    {
        Same(source.Count, destination.Length);
        Span(source).CopyTo(destination);
    }

    public void Fill(BufferView x, float value) => Span(x).Fill(value);

    public void Copy(BufferView source, BufferView destination)
    {
        Same(source.Count, destination.Count);
        Span(source).CopyTo(Span(destination));
    }

    public void Synchronize() { }

    public void Gemm(bool transA, bool transB, int m, int n, int k, float alpha, BufferView a, int lda,
        BufferView b, int ldb, float beta, BufferView c, int ldc) =>
        Blas.Sgemm(transA, transB, m, n, k, alpha, Span(a), lda, Span(b), ldb, beta, Span(c), ldc);

    public void Axpy(float alpha, BufferView x, BufferView y)
    {
        Same(x.Count, y.Count);
        var yy = Span(y);
        TensorPrimitives.MultiplyAdd(Span(x), alpha, yy, yy);
    }

    public void Scale(float alpha, BufferView x, BufferView y)
    {
        Same(x.Count, y.Count);
        TensorPrimitives.Multiply(Span(x), alpha, Span(y));
    }

    public void Add(BufferView a, BufferView b, BufferView y)
    {
        Same(a.Count, b.Count, y.Count);
        TensorPrimitives.Add(Span(a), Span(b), Span(y));
    }

    public void Mul(BufferView a, BufferView b, BufferView y)
    {
        Same(a.Count, b.Count, y.Count);
        TensorPrimitives.Multiply(Span(a), Span(b), Span(y));
    }

    public void ReluForward(BufferView x, BufferView y, float negativeSlope)
    {
        Same(x.Count, y.Count);
        var xs = Span(x);
        var ys = Span(y);
        for (int i = 0; i < xs.Length; i++) ys[i] = xs[i] > 0 ? xs[i] : negativeSlope * xs[i];
    }

    public void ReluBackward(BufferView x, BufferView dy, BufferView dx, float negativeSlope)
    {
        Same(x.Count, dy.Count, dx.Count);
        var xs = Span(x);
        var g = Span(dy);
        var d = Span(dx);
        for (int i = 0; i < xs.Length; i++) d[i] = xs[i] > 0 ? g[i] : negativeSlope * g[i];
    }

    public void SigmoidForward(BufferView x, BufferView y)
    {
        Same(x.Count, y.Count);
        TensorPrimitives.Sigmoid(Span(x), Span(y));
    }

    public void SigmoidBackward(BufferView y, BufferView dy, BufferView dx)
    {
        Same(y.Count, dy.Count, dx.Count);
        var ys = Span(y);
        var g = Span(dy);
        var d = Span(dx);
        for (int i = 0; i < ys.Length; i++) d[i] = g[i] * ys[i] * (1 - ys[i]);
    }

    public void TanhForward(BufferView x, BufferView y)
    {
        Same(x.Count, y.Count);
        TensorPrimitives.Tanh(Span(x), Span(y));
    }

    public void TanhBackward(BufferView y, BufferView dy, BufferView dx)
    {
        Same(y.Count, dy.Count, dx.Count);
        var ys = Span(y);
        var g = Span(dy);
        var d = Span(dx);
        for (int i = 0; i < ys.Length; i++) d[i] = g[i] * (1 - ys[i] * ys[i]);
    }

    public void SoftmaxForward(int outer, int channels, int inner, BufferView x, BufferView y)
    {
        Same((long)outer * channels * inner, x.Count, y.Count);
        var xs = Span(x);
        var ys = Span(y);
        for (int o = 0; o < outer; o++)
            for (int s = 0; s < inner; s++)
            {
                int at = o * channels * inner + s;
                float max = float.MinValue;
                for (int c = 0; c < channels; c++) max = Math.Max(max, xs[at + c * inner]);
                float sum = 0;
                for (int c = 0; c < channels; c++) sum += ys[at + c * inner] = MathF.Exp(xs[at + c * inner] - max);
                for (int c = 0; c < channels; c++) ys[at + c * inner] /= sum;
            }
    }

    public void SoftmaxBackward(int outer, int channels, int inner, BufferView y, BufferView dy, BufferView dx)
    {
        Same((long)outer * channels * inner, y.Count, dy.Count);
        Same(y.Count, dx.Count);
        var ys = Span(y);
        var g = Span(dy);
        var d = Span(dx);
        for (int o = 0; o < outer; o++)
            for (int s = 0; s < inner; s++)
            {
                int at = o * channels * inner + s;
                float dot = 0;
                for (int c = 0; c < channels; c++) dot += g[at + c * inner] * ys[at + c * inner];
                for (int c = 0; c < channels; c++) d[at + c * inner] = ys[at + c * inner] * (g[at + c * inner] - dot);
            }
    }

    public void Im2Col(in ConvWindow w, BufferView image, BufferView columns) =>
        Engine.Cpu.Im2Col.Forward(Span(image), w.Channels, w.Height, w.Width, w.KernelH, w.KernelW, w.PadH, w.PadW,
            w.StrideH, w.StrideW, w.DilationH, w.DilationW, Span(columns));

    public void Col2Im(in ConvWindow w, BufferView columns, BufferView image) =>
        Engine.Cpu.Im2Col.Backward(Span(columns), w.Channels, w.Height, w.Width, w.KernelH, w.KernelW, w.PadH, w.PadW,
            w.StrideH, w.StrideW, w.DilationH, w.DilationW, Span(image));

    public void PoolForward(PoolKind kind, in PoolWindow w, int planes, BufferView bottom, BufferView top, BufferView? mask = null)
    {
        if (kind != PoolKind.Max && mask != null) throw new ArgumentException("pooling: only max pooling writes a mask");
        var src = Span(bottom);
        var dst = Span(top);
        var m = mask is { } mv ? Span(mv) : default;
        int o = 0;
        for (int p = 0; p < planes; p++)
        {
            var plane = src.Slice(p * w.Height * w.Width, w.Height * w.Width);
            for (int oh = 0; oh < w.OutH; oh++)
                for (int ow = 0; ow < w.OutW; ow++, o++)
                {
                    int hs = oh * w.StrideH - w.PadH, ws = ow * w.StrideW - w.PadW;
                    if (kind == PoolKind.Max)
                    {
                        int he = Math.Min(hs + w.KernelH, w.Height), we = Math.Min(ws + w.KernelW, w.Width);
                        // Start from the window's first cell, as the Pooling layer does (a window of
                        // −inf or NaN then gives that cell, not −FLT_MAX and no index).
                        int arg = Math.Max(hs, 0) * w.Width + Math.Max(ws, 0);
                        float best = plane[arg];
                        for (int h = Math.Max(hs, 0); h < he; h++)
                            for (int x = Math.Max(ws, 0); x < we; x++)
                                if (plane[h * w.Width + x] > best) { best = plane[h * w.Width + x]; arg = h * w.Width + x; }
                        dst[o] = best;
                        if (!m.IsEmpty) m[o] = arg;
                    }
                    else
                    {
                        int he = Math.Min(hs + w.KernelH, w.Height + w.PadH), we = Math.Min(ws + w.KernelW, w.Width + w.PadW);
                        int size = (he - hs) * (we - ws);
                        float sum = 0;
                        for (int h = Math.Max(hs, 0); h < Math.Min(he, w.Height); h++)
                            for (int x = Math.Max(ws, 0); x < Math.Min(we, w.Width); x++) sum += plane[h * w.Width + x];
                        dst[o] = sum / size;
                    }
                }
        }
    }

    private static void Same(long a, long b)
    {
        if (a != b) throw new ArgumentException($"{b} elements where {a} are needed");
    }

    private static void Same(long a, long b, long c)
    {
        Same(a, b);
        Same(a, c);
    }

    public void Dispose() { }

    /// <summary>A host array as a backend buffer.</summary>
    public sealed class HostBuffer(int count) : BackendBufferBase
    {
        public float[] Array { get; } = new float[count];
        public override int Count => Array.Length;
        public override void Dispose() { }
    }
}
