using Engine.OpenCL;

namespace Engine.Backends;

/// <summary>
/// <see cref="IBackend"/> on one OpenCL device: the kernels of engine/OpenCL/kernels, four
/// programs (gemm, im2col, elementwise, pooling) built on first use and cached on disk.
/// </summary>
public sealed partial class OpenCLBackend : IBackend
{
    private readonly bool _ownsContext;
    private readonly int _tileM, _tileN, _threadsM, _threadsN;
    private readonly string _gemmOptions;
    private readonly bool _clblast;  // GEMMs through CLBlast (k = 0 goes to our kernel, which CLBlast rejects)
    private readonly bool _direct;   // our kernel: gemm_direct.cl (else gemm.cl's tiled one)

    /// <summary>Opens <paramref name="device"/> (a context and queue of its own).</summary>
    public OpenCLBackend(OpenCLDeviceInfo device, ProgramCache? cache = null) : this(new OpenCLContext(device, cache), ownsContext: true) { }

    /// <summary>Works on an open context (which the caller keeps and disposes). <paramref name="gemm"/>
    /// forces a GEMM ("clblast", "tiled", "direct"); by default see <see cref="ChooseGemm"/>.</summary>
    public OpenCLBackend(OpenCLContext context, string? gemm = null) : this(context, ownsContext: false, gemm) { }

    private OpenCLBackend(OpenCLContext context, bool ownsContext, string? gemm = null)
    {
        Context = context;
        _ownsContext = ownsContext;
        // 64×64 tiles by 16×16 work-items (4×4 outputs each); a device whose work-groups are
        // smaller gets 32×32 tiles by 8×8.
        bool small = context.Device.MaxWorkGroupSize < 256 || context.Device.LocalMemory < 16 * 1024;
        _tileM = _tileN = small ? 32 : 64;
        _threadsM = _threadsN = small ? 8 : 16;
        _gemmOptions = small ? "-DTSM=32 -DTSN=32" : "";
        bool cpu = context.Device.Type.Contains("CPU", StringComparison.Ordinal);
        GemmKernel = ChooseGemm(gemm ?? Environment.GetEnvironmentVariable("ENGINE_OPENCL_GEMM"), cpu, ClBlast.TryLoad(), NoteOnce);
        _clblast = GemmKernel == "clblast";
        _direct = GemmKernel == "direct" || (_clblast && cpu);
    }

    /// <summary>
    /// The GEMM a backend uses: <paramref name="asked"/> ("clblast", "tiled", "direct"; from
    /// ENGINE_OPENCL_GEMM) or, when nothing is asked, our direct kernel on a CPU device (on PoCL it
    /// runs LeNet and CIFAR-10 as fast as CLBlast, which costs ~45 s of kernel compiling in a
    /// process that finds PoCL's cache cold) and elsewhere CLBlast where it loads (twice our tiled
    /// kernel's speed on PoCL, and tuned per device), else the tiled kernel. See docs/opencl.md.
    /// "clblast" without CLBlast falls back to our kernel with one note per process; an unknown
    /// name is an error.
    /// </summary>
    internal static string ChooseGemm(string? asked, bool cpuDevice, bool clblastLoads, Action<string> note)
    {
        string own = cpuDevice ? "direct" : "tiled";
        switch (asked)
        {
            case null or "": return !cpuDevice && clblastLoads ? "clblast" : own;
            case "tiled" or "direct": return asked;
            case "clblast":
                if (clblastLoads) return "clblast";
                note($"ENGINE_OPENCL_GEMM=clblast: {ClBlast.WhyNot ?? "CLBlast is not available"} (Debian: libclblast1); using the {own} GEMM kernel");
                return own;
            default: throw new EngineException($"ENGINE_OPENCL_GEMM={asked}: expected clblast, tiled or direct");
        }
    }

    private static int _noted;

    private static void NoteOnce(string message)
    {
        if (Interlocked.Exchange(ref _noted, 1) == 0) Engine.Core.Log.Warning(message, "opencl");
    }

    public OpenCLContext Context { get; }

    public string Name => $"OpenCL: {Context.Device.Describe()}";

    /// <summary>Which GEMM runs: "clblast" (CLBlast's SGEMM), "direct" (gemm_direct.cl) or "tiled" (gemm.cl, local-memory tiles).</summary>
    public string GemmKernel { get; }

    /// <summary>Builds (or loads from the disk cache) every program now rather than on first use.</summary>
    public IReadOnlyList<OpenCLProgram> Warm() =>
        KernelSources.Names.Order(StringComparer.Ordinal).Select(n => n == "gemm" ? Gemm() : Program(n)).ToList();

    private OpenCLProgram Gemm() => Context.Program("gemm", _gemmOptions);
    private OpenCLProgram Program(string name) => Context.Program(name);

    public IBackendBuffer Allocate(int count) => Context.Allocate(count);

    private OpenCLBuffer Buf(BufferView v) => v.Buffer as OpenCLBuffer is { } b && b.Context == Context ? b
        : throw new ArgumentException($"a buffer of another backend was given to {Name}");

    public void Upload(ReadOnlySpan<float> source, BufferView destination)
    {
        SameCount(source.Length, destination.Count, nameof(Upload));
        Context.Write(Buf(destination), destination.Offset, source);
    }

    public void Download(BufferView source, Span<float> destination)
    {
        SameCount(source.Count, destination.Length, nameof(Download));
        Context.Read(Buf(source), source.Offset, destination);
    }

    public void Fill(BufferView x, float value) => Context.Fill(Buf(x), x.Offset, x.Count, value);

    public void Copy(BufferView source, BufferView destination)
    {
        SameCount(source.Count, destination.Count, nameof(Copy));
        Context.Copy(Buf(source), source.Offset, Buf(destination), destination.Offset, source.Count);
    }

    public void Synchronize() => Context.Finish();

    public void Gemm(bool transA, bool transB, int m, int n, int k, float alpha, BufferView a, int lda,
        BufferView b, int ldb, float beta, BufferView c, int ldc) =>
        GemmBatched(1, transA, transB, m, n, k, alpha, a, lda, 0, b, ldb, 0, beta, c, ldc, 0);

    public void GemmBatched(int batch, bool transA, bool transB, int m, int n, int k, float alpha, BufferView a, int lda, int strideA,
        BufferView b, int ldb, int strideB, float beta, BufferView c, int ldc, int strideC)
    {
        if (m < 0 || n < 0 || k < 0 || batch < 0) throw new ArgumentOutOfRangeException(nameof(m), $"Gemm: negative size {m}×{n}×{k} (batch {batch})");
        if (m == 0 || n == 0 || batch == 0) return;
        NeedBatched(a, transA ? k : m, transA ? m : k, lda, strideA, batch, "A");
        NeedBatched(b, transB ? n : k, transB ? k : n, ldb, strideB, batch, "B");
        NeedBatched(c, m, n, ldc, strideC, batch, "C");
        if (_clblast && k > 0)
        {
            if (batch == 1)
                ClBlast.Sgemm(Context, transA, transB, m, n, k, alpha, Buf(a), a.Offset, lda, Buf(b), b.Offset, ldb, beta, Buf(c), c.Offset, ldc);
            else
                ClBlast.SgemmStridedBatched(Context, batch, transA, transB, m, n, k, alpha, Buf(a), a.Offset, lda, strideA,
                    Buf(b), b.Offset, ldb, strideB, beta, Buf(c), c.Offset, ldc, strideC);
            return;
        }
        if (_direct)
        {
            var direct = Program("gemm_direct").Kernel((transA, transB) switch
            {
                (false, false) => "sgemm_direct_nn",
                (false, true) => "sgemm_direct_nt",
                (true, false) => "sgemm_direct_tn",
                _ => "sgemm_direct_tt",
            });
            direct.Launch([n, (m + 3) / 4, batch], [],
                m, n, k, alpha, Buf(a), a.Offset, lda, strideA, Buf(b), b.Offset, ldb, strideB, beta, Buf(c), c.Offset, ldc, strideC);
            return;
        }
        var kernel = Gemm().Kernel((transA, transB) switch
        {
            (false, false) => "sgemm_nn",
            (false, true) => "sgemm_nt",
            (true, false) => "sgemm_tn",
            _ => "sgemm_tt",
        });
        long groupsN = (n + _tileN - 1) / _tileN, groupsM = (m + _tileM - 1) / _tileM;
        kernel.Launch([groupsN * _threadsN, groupsM * _threadsM, batch], [_threadsN, _threadsM, 1],
            m, n, k, alpha, Buf(a), a.Offset, lda, strideA, Buf(b), b.Offset, ldb, strideB, beta, Buf(c), c.Offset, ldc, strideC);
    }

    /// <summary>The last of <paramref name="batch"/> matrices, <paramref name="stride"/> floats apart, must fit in the view.</summary>
    private static void NeedBatched(BufferView v, int rows, int cols, int ld, int stride, int batch, string what)
    {
        if (stride < 0) throw new ArgumentException($"Gemm: negative stride of {what}");
        if (rows == 0 || cols == 0) return;
        Need(v, rows, cols, ld, what);
        if ((long)(batch - 1) * stride + (long)(rows - 1) * ld + cols > v.Count)
            throw new ArgumentException($"Gemm: {batch} matrices {what} of {rows}×{cols} (ld {ld}) {stride} apart do not fit a view of {v.Count}");
    }

    /// <summary>A rows×cols matrix with row stride ld must fit in the view.</summary>
    private static void Need(BufferView v, int rows, int cols, int ld, string what)
    {
        if (rows == 0 || cols == 0) return;
        if (ld < cols) throw new ArgumentException($"Gemm: leading dimension of {what} is {ld}, less than its {cols} columns");
        if ((long)(rows - 1) * ld + cols > v.Count)
            throw new ArgumentException($"Gemm: {what} is {rows}×{cols} (ld {ld}) but its view holds {v.Count} floats");
    }

    public void Axpy(float alpha, BufferView x, BufferView y) =>
        Map("axpy", Same(x, y), alpha, Buf(x), x.Offset, Buf(y), y.Offset);

    public void Scale(float alpha, BufferView x, BufferView y) =>
        Map("scale", Same(x, y), alpha, Buf(x), x.Offset, Buf(y), y.Offset);

    public void Add(BufferView a, BufferView b, BufferView y) =>
        Map("add", Same(a, b, y), Buf(a), a.Offset, Buf(b), b.Offset, Buf(y), y.Offset);

    public void Mul(BufferView a, BufferView b, BufferView y) =>
        Map("mul", Same(a, b, y), Buf(a), a.Offset, Buf(b), b.Offset, Buf(y), y.Offset);

    public void ReluForward(BufferView x, BufferView y, float negativeSlope) =>
        Map("relu_forward", Same(x, y), negativeSlope, Buf(x), x.Offset, Buf(y), y.Offset);

    public void ReluBackward(BufferView x, BufferView dy, BufferView dx, float negativeSlope) =>
        Map("relu_backward", Same(x, dy, dx), negativeSlope, Buf(x), x.Offset, Buf(dy), dy.Offset, Buf(dx), dx.Offset);

    public void SigmoidForward(BufferView x, BufferView y) =>
        Map("sigmoid_forward", Same(x, y), Buf(x), x.Offset, Buf(y), y.Offset);

    public void SigmoidBackward(BufferView y, BufferView dy, BufferView dx) =>
        Map("sigmoid_backward", Same(y, dy, dx), Buf(y), y.Offset, Buf(dy), dy.Offset, Buf(dx), dx.Offset);

    public void TanhForward(BufferView x, BufferView y) =>
        Map("tanh_forward", Same(x, y), Buf(x), x.Offset, Buf(y), y.Offset);

    public void TanhBackward(BufferView y, BufferView dy, BufferView dx) =>
        Map("tanh_backward", Same(y, dy, dx), Buf(y), y.Offset, Buf(dy), dy.Offset, Buf(dx), dx.Offset);

    public void SoftmaxForward(int outer, int channels, int inner, BufferView x, BufferView y)
    {
        SameCount((long)outer * channels * inner, Same(x, y), nameof(SoftmaxForward));
        Launch1D(Program("elementwise").Kernel("softmax_forward"), (long)outer * inner,
            outer, channels, inner, Buf(x), x.Offset, Buf(y), y.Offset);
    }

    public void SoftmaxBackward(int outer, int channels, int inner, BufferView y, BufferView dy, BufferView dx)
    {
        SameCount((long)outer * channels * inner, Same(y, dy, dx), nameof(SoftmaxBackward));
        Launch1D(Program("elementwise").Kernel("softmax_backward"), (long)outer * inner,
            outer, channels, inner, Buf(y), y.Offset, Buf(dy), dy.Offset, Buf(dx), dx.Offset);
    }

    public void Im2Col(in ConvWindow w, BufferView image, BufferView columns) =>
        Im2ColBatched(w, 1, image, w.ImageCount, columns, w.ColumnCount);

    public void Col2Im(in ConvWindow w, BufferView columns, BufferView image) =>
        Col2ImBatched(w, 1, columns, w.ColumnCount, image, w.ImageCount);

    public void Im2ColBatched(in ConvWindow w, int batch, BufferView images, int imageStride, BufferView columns, int columnStride)
    {
        if (batch == 0) return;
        CheckWindow(w, images.Slice((batch - 1) * imageStride, images.Count - (batch - 1) * imageStride),
            columns.Slice((batch - 1) * columnStride, columns.Count - (batch - 1) * columnStride));
        int count = w.Channels * w.OutH * w.OutW;
        Program("im2col").Kernel("im2col").Launch([count, batch], [Math.Min(Group, Context.Device.MaxWorkGroupSize), 1],
            count, imageStride, columnStride, Buf(images), images.Offset, w.Height, w.Width,
            w.KernelH, w.KernelW, w.PadH, w.PadW, w.StrideH, w.StrideW, w.DilationH, w.DilationW, w.OutH, w.OutW,
            Buf(columns), columns.Offset);
    }

    public void Col2ImBatched(in ConvWindow w, int batch, BufferView columns, int columnStride, BufferView images, int imageStride)
    {
        if (batch == 0) return;
        CheckWindow(w, images.Slice((batch - 1) * imageStride, images.Count - (batch - 1) * imageStride),
            columns.Slice((batch - 1) * columnStride, columns.Count - (batch - 1) * columnStride));
        int count = w.ImageCount;
        Program("im2col").Kernel("col2im").Launch([count, batch], [Math.Min(Group, Context.Device.MaxWorkGroupSize), 1],
            count, columnStride, imageStride, Buf(columns), columns.Offset, w.Height, w.Width,
            w.KernelH, w.KernelW, w.PadH, w.PadW, w.StrideH, w.StrideW, w.DilationH, w.DilationW, w.OutH, w.OutW,
            Buf(images), images.Offset);
    }

    private static void CheckWindow(in ConvWindow w, BufferView image, BufferView columns)
    {
        if (w.OutH <= 0 || w.OutW <= 0) throw new ArgumentException($"im2col: the window leaves no output for {w}");
        if (image.Count < w.ImageCount || columns.Count < w.ColumnCount)
            throw new ArgumentException($"im2col: image view {image.Count} (needs {w.ImageCount}), columns view {columns.Count} (needs {w.ColumnCount})");
    }

    public void PoolForward(PoolKind kind, in PoolWindow w, int planes, BufferView bottom, BufferView top, BufferView? mask = null)
    {
        long count = (long)planes * w.OutH * w.OutW;
        if (bottom.Count < (long)planes * w.Height * w.Width || top.Count < count || (mask is { } mk && mk.Count < count))
            throw new ArgumentException($"pooling: views too small for {planes} planes of {w}");
        if (kind == PoolKind.Max)
        {
            var m = mask ?? top;
            Launch1D(Program("pooling").Kernel("max_pool_forward"), count, (int)count, Buf(bottom), bottom.Offset, w.Height, w.Width,
                w.OutH, w.OutW, w.KernelH, w.KernelW, w.StrideH, w.StrideW, w.PadH, w.PadW, Buf(top), top.Offset,
                mask.HasValue ? 1 : 0, Buf(m), m.Offset);
        }
        else
        {
            if (mask != null) throw new ArgumentException("pooling: only max pooling writes a mask");
            Launch1D(Program("pooling").Kernel("ave_pool_forward"), count, (int)count, Buf(bottom), bottom.Offset, w.Height, w.Width,
                w.OutH, w.OutW, w.KernelH, w.KernelW, w.StrideH, w.StrideW, w.PadH, w.PadW, Buf(top), top.Offset);
        }
    }

    // ---- launching -------------------------------------------------------------------------

    private const int Group = 128;

    /// <summary>An elementwise kernel whose first argument is the count.</summary>
    private void Map(string kernel, int n, params ReadOnlySpan<KernelArg> rest) => Counted("elementwise", kernel, n, rest);

    /// <summary>Kernel <paramref name="kernel"/> of <paramref name="program"/> over n work-items, the count
    /// passed as its first argument (the arguments on the stack: nothing allocated per launch).</summary>
    private void Counted(string program, string kernel, int n, ReadOnlySpan<KernelArg> rest)
    {
        if (n == 0) return;
        Span<KernelArg> args = stackalloc KernelArg[rest.Length + 1];
        args[0] = n;
        rest.CopyTo(args[1..]);
        Launch1D(Program(program).Kernel(kernel), n, args);
    }

    private void Launch1D(OpenCLKernel kernel, long items, params ReadOnlySpan<KernelArg> args)
    {
        if (items == 0) return;
        long local = Math.Min(Group, Context.Device.MaxWorkGroupSize);
        kernel.Launch([items], [local], args);
    }

    private static int Same(BufferView a, BufferView b)
    {
        if (a.Count != b.Count) throw new ArgumentException($"views of {a.Count} and {b.Count} elements");
        return a.Count;
    }

    private static int Same(BufferView a, BufferView b, BufferView c) => Same(a, Same(b, c) == c.Count ? c : b);

    private static void SameCount(long expected, long actual, string what)
    {
        if (expected != actual) throw new ArgumentException($"{what}: {actual} elements where {expected} are needed");
    }

    public void Dispose()
    {
        _partials?.Dispose();
        if (_ownsContext) Context.Dispose();
    }
}
