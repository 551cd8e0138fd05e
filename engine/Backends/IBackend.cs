namespace Engine.Backends;

/// <summary>
/// The primitive operations a layer is written against (tinygrad's and ONNX Runtime's idea): a
/// backend implements these, not the layers. Every operation is enqueued on the backend's one
/// in-order stream and may return before it has run; <see cref="Download"/> and
/// <see cref="Synchronize"/> wait. All arrays are float32 and row-major; a
/// <see cref="BufferView"/> names a range of one of this backend's buffers.
/// </summary>
/// <remarks>
/// The CPU kernels (engine/Cpu: Blas.Sgemm, Im2Col, TensorPrimitives and the layers' loops)
/// cover the same set, so a CPU backend implements this interface over host arrays; the OpenCL
/// backend (<see cref="OpenCLBackend"/>) implements it with the kernels in engine/OpenCL/kernels.
/// docs/opencl.md describes how layers and blobs will use it.
/// </remarks>
public partial interface IBackend : IDisposable
{
    /// <summary>What the backend runs on, for logs ("OpenCL: Portable Computing Language: pthread-…").</summary>
    string Name { get; }

    /// <summary>A buffer of <paramref name="count"/> floats on the backend (contents undefined).</summary>
    IBackendBuffer Allocate(int count);

    /// <summary>Host → backend. Returns once <paramref name="source"/> may be reused.</summary>
    void Upload(ReadOnlySpan<float> source, BufferView destination);

    /// <summary>Backend → host, after everything enqueued before it.</summary>
    void Download(BufferView source, Span<float> destination);

    /// <summary>Every element of <paramref name="x"/> set to <paramref name="value"/>.</summary>
    void Fill(BufferView x, float value);

    /// <summary>destination = source (same count; ranges of one buffer must not overlap).</summary>
    void Copy(BufferView source, BufferView destination);

    /// <summary>Waits until every enqueued operation has finished.</summary>
    void Synchronize();

    // ---- BLAS ------------------------------------------------------------------------------

    /// <summary>C = alpha·op(A)·op(B) + beta·C, row-major with leading dimensions, as
    /// <c>Engine.Cpu.Blas.Sgemm</c>: A stored m×k (k×m when transposed), B k×n (n×k), C m×n.
    /// beta = 0 never reads C.</summary>
    void Gemm(bool transA, bool transB, int m, int n, int k, float alpha, BufferView a, int lda,
        BufferView b, int ldb, float beta, BufferView c, int ldc);

    /// <summary>y += alpha·x.</summary>
    void Axpy(float alpha, BufferView x, BufferView y);

    /// <summary>y = alpha·x (y may be x).</summary>
    void Scale(float alpha, BufferView x, BufferView y);

    // ---- elementwise maps (y may be an input: in place) --------------------------------------

    /// <summary>y = a + b.</summary>
    void Add(BufferView a, BufferView b, BufferView y);

    /// <summary>y = a·b, elementwise.</summary>
    void Mul(BufferView a, BufferView b, BufferView y);

    /// <summary>y = x where x &gt; 0, negativeSlope·x elsewhere.</summary>
    void ReluForward(BufferView x, BufferView y, float negativeSlope);

    /// <summary>dx = dy where x &gt; 0, negativeSlope·dy elsewhere.</summary>
    void ReluBackward(BufferView x, BufferView dy, BufferView dx, float negativeSlope);

    /// <summary>y = 1 / (1 + e^−x).</summary>
    void SigmoidForward(BufferView x, BufferView y);

    /// <summary>dx = dy·y·(1 − y), from the forward output y.</summary>
    void SigmoidBackward(BufferView y, BufferView dy, BufferView dx);

    /// <summary>y = tanh x.</summary>
    void TanhForward(BufferView x, BufferView y);

    /// <summary>dx = dy·(1 − y²), from the forward output y.</summary>
    void TanhBackward(BufferView y, BufferView dy, BufferView dx);

    // ---- reductions ------------------------------------------------------------------------

    /// <summary>Softmax over the middle axis of an outer × channels × inner array (inner = 1: each row).</summary>
    void SoftmaxForward(int outer, int channels, int inner, BufferView x, BufferView y);

    /// <summary>dx = y·(dy − Σ_c dy·y) over the middle axis, from the forward output y.</summary>
    void SoftmaxBackward(int outer, int channels, int inner, BufferView y, BufferView dy, BufferView dx);

    // ---- windows ---------------------------------------------------------------------------

    /// <summary>Unfolds one image (C×H×W) into columns ((C·kH·kW) × (outH·outW)), as <c>Engine.Cpu.Im2Col.Forward</c>.</summary>
    void Im2Col(in ConvWindow window, BufferView image, BufferView columns);

    /// <summary>The adjoint of <see cref="Im2Col"/>: image = Σ of the columns read from each pixel (overwritten, not added to).</summary>
    void Col2Im(in ConvWindow window, BufferView columns, BufferView image);

    /// <summary>Max or average pooling over <paramref name="planes"/> planes (N·C); <paramref name="mask"/>
    /// (max only, optional) receives each maximum's flat index h·W + w as a float.</summary>
    void PoolForward(PoolKind kind, in PoolWindow window, int planes, BufferView bottom, BufferView top, BufferView? mask = null);
}

/// <summary>A buffer owned by a backend (device memory for OpenCL, a host array for the CPU).</summary>
public interface IBackendBuffer : IDisposable
{
    /// <summary>Number of floats.</summary>
    int Count { get; }

    /// <summary>The whole buffer as a view.</summary>
    BufferView All { get; }
}

/// <summary>Elements [Offset, Offset + Count) of a backend buffer.</summary>
public readonly record struct BufferView(IBackendBuffer Buffer, int Offset, int Count)
{
    /// <summary>The sub-range [start, start + count) of this view.</summary>
    public BufferView Slice(int start, int count)
    {
        if (start < 0 || count < 0 || (long)start + count > Count)
            throw new ArgumentOutOfRangeException(nameof(count), $"[{start}, {(long)start + count}) is outside a view of {Count}");
        return new BufferView(Buffer, Offset + start, count);
    }

    public static implicit operator BufferView(BackendBufferBase buffer) => new(buffer, 0, buffer.Count);
}

/// <summary>Base class of the backends' buffers, so a buffer converts to a whole-buffer <see cref="BufferView"/>.</summary>
public abstract class BackendBufferBase : IBackendBuffer
{
    public abstract int Count { get; }
    public BufferView All => new(this, 0, Count);
    public abstract void Dispose();
}

/// <summary>A 2-D convolution window over one C×H×W image, with Caffe's output size.</summary>
public readonly record struct ConvWindow(int Channels, int Height, int Width, int KernelH, int KernelW,
    int PadH = 0, int PadW = 0, int StrideH = 1, int StrideW = 1, int DilationH = 1, int DilationW = 1)
{
    public int OutH => Engine.Cpu.Im2Col.OutputSize(Height, KernelH, PadH, StrideH, DilationH);
    public int OutW => Engine.Cpu.Im2Col.OutputSize(Width, KernelW, PadW, StrideW, DilationW);
    public int ImageCount => Channels * Height * Width;
    public int ColumnCount => Channels * KernelH * KernelW * OutH * OutW;
}

/// <summary>A 2-D pooling window over H×W planes; the output size is the layer's (it depends on round_mode).</summary>
public readonly record struct PoolWindow(int Height, int Width, int OutH, int OutW, int KernelH, int KernelW,
    int StrideH, int StrideW, int PadH = 0, int PadW = 0);

public enum PoolKind { Max, Average }
