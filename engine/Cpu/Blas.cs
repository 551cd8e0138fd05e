using System.Buffers;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Engine.Cpu;

/// <summary>
/// Row-major single-precision BLAS: <see cref="Sgemm(bool, bool, int, int, int, float, ReadOnlySpan{float}, ReadOnlySpan{float}, float, Span{float})"/>
/// and <see cref="Sgemv"/>.
/// </summary>
/// <remarks>
/// <para>Sgemm packs panels of op(A) and op(B) into per-thread buffers and runs a register-blocked
/// micro-kernel (AVX-512, AVX2+FMA, or portable 128-bit vectors) with cache blocking over k
/// (<c>Kc</c>), m (<c>Mc</c>) and n (<c>Nc</c>), tuned per family. Large products are split across
/// <see cref="WorkerPool"/> threads by blocks of rows or columns of C, never along k, so every element
/// of C is computed by the same sequence of operations whatever the thread count: results are
/// reproducible bit for bit with any <see cref="WorkerPool.Threads"/>.</para>
/// <para>C must not overlap A or B. With beta = 0, C is overwritten (NaNs in it are ignored);
/// with alpha = 0 or k = 0, A and B are not read and C becomes beta·C.</para>
/// </remarks>
public static unsafe partial class Blas
{
    /// <summary>Products with m·n·k below this stay on the calling thread.</summary>
    internal const long ParallelThreshold = 1L << 17;

    /// <summary>Which micro-kernel family runs the products.</summary>
    internal enum KernelKind
    {
        /// <summary>The fastest the hardware supports.</summary>
        Auto,
        /// <summary>AVX-512: 12×32 tiles of two 16-float vectors.</summary>
        Vector512,
        /// <summary>AVX2 + FMA: 6×16 tiles.</summary>
        Vector256,
        /// <summary>128-bit vectors (SSE, NEON, or emulated): 4×8 tiles.</summary>
        Portable,
    }

    /// <summary>Tests and benchmarks force a kernel family here; <see cref="KernelKind.Auto"/> (the
    /// default) picks the best supported one.</summary>
    internal static KernelKind ForceKernel { get; set; } = KernelKind.Auto;

    /// <summary>Whether this machine can run <paramref name="kind"/>.</summary>
    internal static bool IsSupported(KernelKind kind) => kind switch
    {
        KernelKind.Auto or KernelKind.Portable => true,
        KernelKind.Vector512 => Avx512F.IsSupported,
        KernelKind.Vector256 => Avx2.IsSupported && Fma.IsSupported,
        _ => false,
    };

    /// <summary>The family <see cref="KernelKind.Auto"/> resolves to here.</summary>
    /// <remarks>AVX-512 is used wherever it exists, even where .NET reports Vector512 as not
    /// accelerated (it says so on Intel parts that lower their clock under AVX-512): this kernel still
    /// runs 2–3× faster than the AVX2 one there.</remarks>
    internal static KernelKind BestKernel { get; } =
        IsSupported(KernelKind.Vector512) ? KernelKind.Vector512
        : IsSupported(KernelKind.Vector256) ? KernelKind.Vector256
        : KernelKind.Portable;

    /// <summary>A family's tile (MR × NR) and cache blocking (longest k-block, A-block height,
    /// B-block width) for most products, or (<paramref name="largeC"/>) for those with a C of at least
    /// <see cref="LargeCThreshold"/> elements, for tests that aim at the block edges.</summary>
    internal static (int MR, int NR, int Kc, int Mc, int Nc) Blocking(KernelKind kind, bool largeC = false)
    {
        var ks = KernelSet.For(kind == KernelKind.Auto ? BestKernel : kind);
        var b = largeC ? ks.LargeC : ks.Main;
        return (ks.MR, ks.NR, b.Kc, b.Mc, b.Nc);
    }

    /// <summary>Products whose C has at least this many elements (and more rows than a family's
    /// few-row limit) use the family's large-C blocking. Tests lower it to reach that blocking with
    /// small matrices.</summary>
    internal static long LargeCThreshold { get; set; } = 1L << 19;

    /// <summary>The family a call made now would use.</summary>
    internal static KernelKind ActiveKernel
    {
        get
        {
            var kind = ForceKernel;
            if (kind == KernelKind.Auto) return BestKernel;
            if (!IsSupported(kind)) throw new NotSupportedException($"GEMM kernel {kind} is not supported on this CPU");
            return kind;
        }
    }

    // ---- public API -----------------------------------------------------------------------

    /// <summary>
    /// C(m×n) = alpha·op(A)·op(B) + beta·C for contiguous row-major matrices: A is stored m×k
    /// (k×m when <paramref name="transA"/>), B is stored k×n (n×k when <paramref name="transB"/>),
    /// C is m×n.
    /// </summary>
    public static void Sgemm(bool transA, bool transB, int m, int n, int k, float alpha,
        ReadOnlySpan<float> a, ReadOnlySpan<float> b, float beta, Span<float> c)
        => Sgemm(transA, transB, m, n, k, alpha, a, transA ? m : k, b, transB ? k : n, beta, c, n);

    /// <summary>
    /// C = alpha·op(A)·op(B) + beta·C with explicit leading dimensions (row strides, in floats):
    /// element (i, j) of the stored A is a[i·lda + j], and likewise for B and C.
    /// </summary>
    public static void Sgemm(bool transA, bool transB, int m, int n, int k, float alpha,
        ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb, float beta, Span<float> c, int ldc)
    {
        if (m < 0) throw new ArgumentOutOfRangeException(nameof(m), m, "must be ≥ 0");
        if (n < 0) throw new ArgumentOutOfRangeException(nameof(n), n, "must be ≥ 0");
        if (k < 0) throw new ArgumentOutOfRangeException(nameof(k), k, "must be ≥ 0");
        CheckMatrix(c, m, n, ldc, nameof(c), nameof(ldc));
        if (m == 0 || n == 0) return;
        if (k == 0 || alpha == 0f)
        {
            ScaleMatrix(c, m, n, ldc, beta);
            return;
        }
        CheckMatrix(a, transA ? k : m, transA ? m : k, lda, nameof(a), nameof(lda));
        CheckMatrix(b, transB ? n : k, transB ? k : n, ldb, nameof(b), nameof(ldb));

        fixed (float* pa = a, pb = b, pc = c)
            Run(transA, m, n, k, alpha, pa, lda, new MatrixB(pb, ldb, transB), beta, pc, ldc);
    }

    /// <summary>The product on the worker pool (cut by rows or columns of C) or, when small, on the calling thread.</summary>
    private static void Run<TB>(bool transA, int m, int n, int k, float alpha, float* a, nint lda, TB b, float beta, float* c, nint ldc)
        where TB : struct, IPackB<TB>
    {
        var kernels = KernelSet.For(ActiveKernel);
        // Chosen from the whole product, not a thread's part of it: the k-blocks decide the order in
        // which each element of C is summed.
        var blocking = TB.LargeCBlocking ? kernels.Blocking(m, n) : kernels.Main;
        var job = new GemmJob<TB>
        {
            Kernels = kernels,
            Blocking = blocking,
            TransA = transA,
            M = m,
            N = n,
            K = k,
            Alpha = alpha,
            Beta = beta,
            A = a,
            Lda = lda,
            B = b,
            C = c,
            Ldc = ldc,
        };
        int threads = WorkerPool.Threads;
        if (threads > 1 && (long)m * n * k >= ParallelThreshold && job.Split(threads))
            WorkerPool.For(job.Parts, job, static (i, j) => j.RunPart(i));
        else
            GemmSerial(kernels, blocking, transA, m, n, k, alpha, a, lda, b, beta, c, ldc);
    }

    /// <summary>
    /// y = alpha·op(A)·x + beta·y, A stored m×n row-major (contiguous). op(A) = A (x has n
    /// elements, y has m) or, with <paramref name="transA"/>, Aᵀ (x has m, y has n). beta = 0
    /// overwrites y.
    /// </summary>
    public static void Sgemv(bool transA, int m, int n, float alpha, ReadOnlySpan<float> a,
        ReadOnlySpan<float> x, float beta, Span<float> y)
    {
        if (m < 0) throw new ArgumentOutOfRangeException(nameof(m), m, "must be ≥ 0");
        if (n < 0) throw new ArgumentOutOfRangeException(nameof(n), n, "must be ≥ 0");
        int xLen = transA ? m : n, yLen = transA ? n : m;
        if (x.Length < xLen) throw new ArgumentException($"x has {x.Length} elements; op(A) needs {xLen}", nameof(x));
        if (y.Length < yLen) throw new ArgumentException($"y has {y.Length} elements; op(A) gives {yLen}", nameof(y));
        if (yLen == 0) return;
        y = y[..yLen];
        if (xLen == 0 || alpha == 0f)
        {
            ScaleMatrix(y, 1, yLen, yLen, beta);
            return;
        }
        if (a.Length < (long)m * n) throw new ArgumentException($"a has {a.Length} elements; an {m}×{n} matrix needs {(long)m * n}", nameof(a));

        fixed (float* pa = a, px = x, py = y)
        {
            var job = new GemvJob { TransA = transA, M = m, N = n, Alpha = alpha, Beta = beta, A = pa, X = px, Y = py };
            int threads = WorkerPool.Threads;
            // Split y into contiguous pieces; each element's arithmetic is the same whoever runs it.
            int grain = transA ? 256 : 64;
            int parts = (long)m * n >= (1L << 18) ? Math.Min(threads, (yLen + grain - 1) / grain) : 1;
            if (parts > 1)
            {
                job.Chunk = ((yLen + parts - 1) / parts + 15) & ~15;
                parts = (yLen + job.Chunk - 1) / job.Chunk;
                WorkerPool.For(parts, job, static (i, j) => j.Run(i));
            }
            else
            {
                job.Chunk = yLen;
                job.Run(0);
            }
        }
    }

    // ---- argument checks and trivial cases ---------------------------------------------------

    private static void CheckMatrix(ReadOnlySpan<float> s, int rows, int cols, int ld, string name, string ldName)
    {
        if (ld < Math.Max(1, cols))
            throw new ArgumentOutOfRangeException(ldName, ld, $"leading dimension must be ≥ {Math.Max(1, cols)}");
        if (rows == 0 || cols == 0) return;
        long need = (long)(rows - 1) * ld + cols;
        if (s.Length < need)
            throw new ArgumentException($"{name} has {s.Length} elements; a {rows}×{cols} matrix with leading dimension {ld} needs {need}", name);
    }

    private static void ScaleMatrix(Span<float> c, int m, int n, int ldc, float beta)
    {
        for (int i = 0; i < m; i++)
        {
            var row = c.Slice(i * ldc, n);
            if (beta == 0f) row.Clear();
            else if (beta != 1f) TensorPrimitives.Multiply(row, beta, row);
        }
    }

    // ---- threading -----------------------------------------------------------------------

    private struct GemmJob<TB> where TB : struct, IPackB<TB>
    {
        public KernelSet Kernels;
        public CacheBlocking Blocking;
        public bool TransA;
        public int M, N, K;
        public float Alpha, Beta;
        public float* A, C;
        public nint Lda, Ldc;
        public TB B;
        public bool ByColumns;
        public int Chunk, Parts;

        /// <summary>Chooses how to cut C into at most <paramref name="threads"/> pieces of whole
        /// tiles; false when it is too small to cut.</summary>
        public bool Split(int threads)
        {
            int nr = Kernels.NR, mr = Kernels.MR;
            int colTiles = (N + nr - 1) / nr, rowTiles = (M + mr - 1) / mr;
            // Cutting columns makes each thread pack all of A, cutting rows all of B: cut the side
            // whose other operand costs less to pack (its size times B's per-element cost), when it
            // has enough tiles.
            bool cols = (long)M <= (long)N * B.PackCost ? colTiles >= 2 : rowTiles < 2;
            int tiles = cols ? colTiles : rowTiles;
            if (tiles < 2) return false;
            int parts = Math.Min(threads, tiles);
            int per = (tiles + parts - 1) / parts;
            ByColumns = cols;
            Chunk = per * (cols ? nr : mr);
            Parts = ((cols ? N : M) + Chunk - 1) / Chunk;
            return Parts > 1;
        }

        public readonly void RunPart(int part)
        {
            int start = part * Chunk;
            if (ByColumns)
            {
                int n = Math.Min(Chunk, N - start);
                GemmSerial(Kernels, Blocking, TransA, M, n, K, Alpha, A, Lda, B.FromColumn(start), Beta, C + start, Ldc);
            }
            else
            {
                int m = Math.Min(Chunk, M - start);
                float* a = TransA ? A + start : A + (nint)start * Lda;
                GemmSerial(Kernels, Blocking, TransA, m, N, K, Alpha, a, Lda, B, Beta, C + (nint)start * Ldc, Ldc);
            }
        }
    }

    private struct GemvJob
    {
        public bool TransA;
        public int M, N, Chunk;
        public float Alpha, Beta;
        public float* A, X, Y;

        public readonly void Run(int part)
        {
            int yLen = TransA ? N : M;
            int start = part * Chunk, len = Math.Min(Chunk, yLen - start);
            var y = new Span<float>(Y + start, len);
            if (!TransA)
            {
                var x = new ReadOnlySpan<float>(X, N);
                for (int i = 0; i < len; i++)
                {
                    float dot = TensorPrimitives.Dot(new ReadOnlySpan<float>(A + (nint)(start + i) * N, N), x);
                    y[i] = Beta == 0f ? Alpha * dot : Alpha * dot + Beta * y[i];
                }
                return;
            }
            // y[j] = alpha·Σ_i A[i, j]·x[i] + beta·y[j]: accumulate whole rows into a scratch sum.
            float[] rented = ArrayPool<float>.Shared.Rent(len);
            var sum = rented.AsSpan(0, len);
            sum.Clear();
            for (int i = 0; i < M; i++)
            {
                float xi = X[i];
                if (xi == 0f) continue;
                TensorPrimitives.MultiplyAdd(new ReadOnlySpan<float>(A + (nint)i * N + start, len), xi, sum, sum);
            }
            if (Beta == 0f) TensorPrimitives.Multiply(sum, Alpha, y);
            else
                for (int j = 0; j < len; j++) y[j] = Alpha * sum[j] + Beta * y[j];
            ArrayPool<float>.Shared.Return(rented);
        }
    }

    // ---- the blocked product on one thread ----------------------------------------------------

    /// <summary>
    /// C = alpha·op(A)·op(B) + beta·C on the calling thread, BLIS-style: n-blocks of nc columns →
    /// k-blocks of kc → pack the B block (kc × nc) → m-blocks of mc rows → pack the A block (mc × kc)
    /// → then either each B sliver (kc × NR, kept in L1) against every A sliver of the block
    /// (<see cref="CacheBlocking.BSliverInL1"/>), or each A sliver against every B sliver.
    /// </summary>
    private static void GemmSerial<TB>(KernelSet ks, CacheBlocking bl, bool transA, int m, int n, int k, float alpha,
        float* a, nint lda, TB b, float beta, float* c, nint ldc) where TB : struct, IPackB<TB>
    {
        var buffers = PackBuffers.Get();
        float* aPack = buffers.A, bPack = buffers.B;
        float* tile = stackalloc float[KernelSet.MaxTile];

        // Balanced k-blocks: depends on k and the blocking only (chosen from the whole product), so
        // every element sums in the same order whatever the thread count.
        int kBlocks = (k + bl.Kc - 1) / bl.Kc;
        int kcStep = (k + kBlocks - 1) / kBlocks;

        // Few rows: the A block is small, so a narrower B block fits in L2 beside it.
        int ncMax = bl.BSliverInL1 && m <= ks.FewRows ? ks.NcFewRows : bl.Nc;
        for (int jc = 0; jc < n; jc += ncMax)
        {
            int nc = Math.Min(ncMax, n - jc);
            for (int pc = 0; pc < k; pc += kcStep)
            {
                int kc = Math.Min(kcStep, k - pc);
                float betaBlock = pc == 0 ? beta : 1f;

                // With B slivers kept in L1, a transposed B (rows of Bᵀ contiguous along k, so the
                // transposing pack streams) is packed sliver by sliver just before first use, during
                // the first m-block, and read back from L1. A plain B is packed up front, row by row:
                // packing one sliver of it would read a cache line from each of kc rows a full row
                // apart, which the prefetchers do not follow (measured: ~30% slower on 50×4096×500).
                bool lazyB = bl.BSliverInL1 && b.BySliver;
                if (!lazyB)
                {
                    if (b.BySliver)
                    {
                        for (int j = 0; j < nc;)
                        {
                            int w = ks.ColWidths[ks.ColIndex(nc - j)];
                            b.PackSliver(pc, kc, jc + j, w, Math.Min(w, nc - j), bPack + (nint)j * kc);
                            j += w;
                        }
                    }
                    else
                    {
                        b.PackBlock(pc, kc, jc, nc, ks.ColWidths, bPack);
                    }
                }

                for (int ic = 0; ic < m; ic += bl.Mc)
                {
                    int mc = Math.Min(bl.Mc, m - ic);
                    if (transA)
                    {
                        PackRowBlock(a + pc * lda + ic, lda, kc, mc, ks.RowWidths, true, aPack);
                    }
                    else
                    {
                        for (int i = 0; i < mc;)
                        {
                            int w = ks.RowWidths[ks.RowIndex(mc - i)];
                            PackTransposed(a + (ic + i) * lda + pc, lda, kc, w, Math.Min(w, mc - i), aPack + (nint)i * kc);
                            i += w;
                        }
                    }

                    float* cBlock = c + ic * ldc + jc;
                    if (bl.BSliverInL1)
                    {
                        for (int j = 0; j < nc;)
                        {
                            int ci = ks.ColIndex(nc - j);
                            int wb = ks.ColWidths[ci];
                            float* bSliver = bPack + (nint)j * kc;
                            if (lazyB && ic == 0)
                                b.PackSliver(pc, kc, jc + j, wb, Math.Min(wb, nc - j), bSliver);
                            for (int i = 0; i < mc;)
                            {
                                int ri = ks.RowIndex(mc - i);
                                RunTile(ks, ri, ci, kc, aPack + (nint)i * kc, bSliver, cBlock + i * ldc + j, ldc,
                                    Math.Min(ks.RowWidths[ri], mc - i), Math.Min(wb, nc - j), alpha, betaBlock, tile);
                                i += ks.RowWidths[ri];
                            }
                            j += wb;
                        }
                    }
                    else
                    {
                        for (int i = 0; i < mc;)
                        {
                            int ri = ks.RowIndex(mc - i);
                            int wa = ks.RowWidths[ri];
                            float* aSliver = aPack + (nint)i * kc;
                            for (int j = 0; j < nc;)
                            {
                                int ci = ks.ColIndex(nc - j);
                                RunTile(ks, ri, ci, kc, aSliver, bPack + (nint)j * kc, cBlock + i * ldc + j, ldc,
                                    Math.Min(wa, mc - i), Math.Min(ks.ColWidths[ci], nc - j), alpha, betaBlock, tile);
                                j += ks.ColWidths[ci];
                            }
                            i += wa;
                        }
                    }
                }
            }
        }
    }

    /// <summary>One micro-tile: the kernel straight into C when the tile is whole; otherwise into
    /// <paramref name="tile"/>, whose valid <paramref name="va"/> × <paramref name="vb"/> part is then
    /// merged with the same arithmetic the kernels use (alpha·t + beta·c, unfused).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void RunTile(KernelSet ks, int ri, int ci, int kc, float* aSliver, float* bSliver, float* cTile, nint ldc,
        int va, int vb, float alpha, float beta, float* tile)
    {
        var kernel = ks.Kernel(ri, ci);
        int wb = ks.ColWidths[ci];
        if (va == ks.RowWidths[ri] && vb == wb)
        {
            kernel(kc, aSliver, bSliver, cTile, ldc, alpha, beta);
            return;
        }
        kernel(kc, aSliver, bSliver, tile, wb, 1f, 0f);
        for (int r = 0; r < va; r++)
        {
            float* t = tile + r * wb, q = cTile + r * ldc;
            if (beta == 0f)
                for (int s = 0; s < vb; s++) q[s] = alpha * t[s];
            else
                for (int s = 0; s < vb; s++) q[s] = alpha * t[s] + beta * q[s];
        }
    }

    // ---- kernel tables -----------------------------------------------------------------------

    /// <summary>A compile-time dimension for the generic micro-kernels.</summary>
    internal interface IDim { static abstract int Value { get; } }
    private struct D1 : IDim { public static int Value => 1; }
    private struct D2 : IDim { public static int Value => 2; }
    private struct D4 : IDim { public static int Value => 4; }
    private struct D6 : IDim { public static int Value => 6; }
    private struct D8 : IDim { public static int Value => 8; }
    private struct D12 : IDim { public static int Value => 12; }
    private struct D16 : IDim { public static int Value => 16; }
    private struct D32 : IDim { public static int Value => 32; }

    /// <summary>Cache blocking and loop order for a product: the longest k-block (k is cut into equal
    /// blocks no longer than this), the height of a packed A block, the width of a packed B block,
    /// and the loop order inside an (A block, B block) pair: <c>BSliverInL1</c> runs each packed B
    /// sliver (kc × NR) against all the A slivers of the block, so the B sliver stays in L1 and the
    /// A slivers stream from L2, walking C down its columns; otherwise each A sliver (kept in L1)
    /// runs against all the B slivers, walking C along its rows.</summary>
    private readonly record struct CacheBlocking(int Kc, int Mc, int Nc, bool BSliverInL1);

    /// <summary>One kernel family: the tile heights and widths it offers (largest first) and a
    /// kernel for each pair. Edges use the smallest tile that covers what is left.</summary>
    private sealed class KernelSet
    {
        public const int MaxRows = 14, MaxCols = 32, MaxTile = MaxRows * MaxCols;

        public readonly int[] RowWidths, ColWidths;
        private readonly delegate*<nint, float*, float*, float*, nint, float, float, void>[] kernels;

        /// <summary>The blocking for most products, and the one for a C of at least
        /// <see cref="LargeCThreshold"/> elements (and more than <see cref="FewRows"/> rows).</summary>
        public readonly CacheBlocking Main, LargeC;

        /// <summary>B-block width for products of at most <see cref="FewRows"/> rows (with the B
        /// sliver in L1).</summary>
        public readonly int NcFewRows, FewRows;

        public int MR => RowWidths[0];
        public int NR => ColWidths[0];

        private KernelSet(int[] rows, int[] cols, CacheBlocking main,
            delegate*<nint, float*, float*, float*, nint, float, float, void>[] table,
            CacheBlocking? largeC = null, int fewRows = 0, int ncFewRows = 0)
        {
            FewRows = fewRows;
            NcFewRows = Math.Min(ncFewRows, main.Nc);
            RowWidths = rows;
            ColWidths = cols;
            Main = main;
            LargeC = largeC ?? main;
            kernels = table;
        }

        /// <summary>The blocking for an m × n product (the whole product, whichever part of it a
        /// thread runs).</summary>
        public CacheBlocking Blocking(int m, int n) =>
            m > FewRows && (long)m * n >= LargeCThreshold ? LargeC : Main;

        /// <summary>Packing buffer sizes (floats) that fit every family.</summary>
        public static int MaxPackA => Math.Max(Math.Max(K512.PackA, K256.PackA), K128.PackA);
        public static int MaxPackB => Math.Max(Math.Max(K512.PackB, K256.PackB), K128.PackB);
        public static int MaxPackRows => Math.Max(Math.Max(K512.PackRows, K256.PackRows), K128.PackRows);
        private int PackA => Math.Max((Main.Mc + MaxRows) * Main.Kc, (LargeC.Mc + MaxRows) * LargeC.Kc);
        private int PackB => Math.Max((Main.Nc + MaxCols) * Main.Kc, (LargeC.Nc + MaxCols) * LargeC.Kc);
        private int PackRows => Math.Max(Math.Max(Main.Nc, LargeC.Nc), MaxCols * Math.Max(Main.Kc, LargeC.Kc));

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public delegate*<nint, float*, float*, float*, nint, float, float, void> Kernel(int rowIndex, int colIndex)
            => kernels[rowIndex * ColWidths.Length + colIndex];

        /// <summary>Index of the tile height for <paramref name="left"/> remaining rows. Between one
        /// and one and a half full tiles, the next smaller height comes first, so that the rows end
        /// in two middling slivers rather than a full one and a thin one (8 rows: 4 + 4, not 6 + 2),
        /// whose kernel would be bound by loads rather than FMAs.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public int RowIndex(int left) => PickBalanced(RowWidths, left);

        /// <summary><see cref="Pick"/>, except that between one and one and a half full widths
        /// the next smaller width is taken (see <see cref="RowIndex"/>).</summary>
        public static int PickBalanced(int[] widths, int left)
        {
            if (left > widths[0] && 2 * left < 3 * widths[0] && widths.Length > 1) return 1;
            return Pick(widths, left);
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public int ColIndex(int left) => Pick(ColWidths, left);

        public static int Pick(int[] widths, int left)
        {
            if (left >= widths[0]) return 0;
            int i = widths.Length - 1;
            while (widths[i] < left) i--;
            return i;
        }

        // AVX-512 (tuned on a Zen4 / Intel part): each 12-row A sliver (15 KiB) stays in L1 while
        // the B block (320 × 512, 640 KiB) streams from L2.
        private static readonly KernelSet K512 = new([12, 8, 4, 2, 1], [32, 16], new(Kc: 320, Mc: 144, Nc: 512, BSliverInL1: false),
        [
            &Kernel512<D12, D32>, &Kernel512<D12, D16>,
            &Kernel512<D8, D32>, &Kernel512<D8, D16>,
            &Kernel512<D4, D32>, &Kernel512<D4, D16>,
            &Kernel512<D2, D32>, &Kernel512<D2, D16>,
            &Kernel512<D1, D32>, &Kernel512<D1, D16>,
        ]);

        // AVX2 + FMA (tuned on Zen3: 32 KiB L1d, 512 KiB L2). Main: each 16-wide B sliver (256 ×
        // 16, 16 KiB) stays in L1 while the 6-row A slivers of the A block (240 × 256, 240 KiB, in
        // L2) stream past it; the B block (256 × 4096, 4 MiB) is read from L3 once per A block. Wide
        // B blocks pack each A block fewer times (A's transposing pack is the dearer one): 2048³ ran
        // 63 → 72 GFLOP/s on one core against 1024-wide blocks (interleaved A/B runs). With at
        // most 96 rows (A block ≤ 96 KiB; the im2col products of small convolutions), B blocks of
        // 256 × 384 (384 KiB) stay in L2 beside it (measured ~5–15% faster on 64×3136×576).
        // Large C (≥ 2 MiB, past what L2 and a share of L3 keep): each 6-row A sliver (512 × 6,
        // 12 KiB) stays in L1 while the B slivers stream from the B block (512 × 2048, 4 MiB, L3),
        // so C is walked along its rows, tile after adjacent tile, which the hardware prefetchers
        // follow, and passed over half as often (k-blocks of 512). Paired calls on one core: 2048³
        // +10%, 1024³ +7%, 576 × 3136 × 64 (Aᵀ·B) +20%, 256 × 3136 × 64 +3%; below 2 MiB it lost
        // up to 4% (2304 × 169 × 384 Aᵀ·B, 128 × 3136 × 1152).
        private static readonly KernelSet K256 = new([6, 4, 2, 1], [16, 8], new(Kc: 256, Mc: 240, Nc: 4096, BSliverInL1: true),
        [
            &Kernel256<D6, D16>, &Kernel256<D6, D8>,
            &Kernel256<D4, D16>, &Kernel256<D4, D8>,
            &Kernel256<D2, D16>, &Kernel256<D2, D8>,
            &Kernel256<D1, D16>, &Kernel256<D1, D8>,
        ], largeC: new(Kc: 512, Mc: 240, Nc: 2048, BSliverInL1: false), fewRows: 96, ncFewRows: 384);

        private static readonly KernelSet K128 = new([4, 2, 1], [8, 4], new(Kc: 256, Mc: 128, Nc: 1024, BSliverInL1: true),
        [
            &Kernel128<D4, D8>, &Kernel128<D4, D4>,
            &Kernel128<D2, D8>, &Kernel128<D2, D4>,
            &Kernel128<D1, D8>, &Kernel128<D1, D4>,
        ]);

        public static KernelSet For(KernelKind kind) => kind switch
        {
            KernelKind.Vector512 => K512,
            KernelKind.Vector256 => K256,
            _ => K128,
        };
    }
}
