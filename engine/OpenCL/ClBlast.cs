using System.Runtime.InteropServices;

namespace Engine.OpenCL;

/// <summary>
/// Optional: CLBlast (a tuned OpenCL BLAS; Debian's `libclblast1`), loaded on first use.
/// <see cref="Engine.Backends.OpenCLBackend"/> routes its GEMMs here when it loads
/// (<c>CLBlastSgemm</c>, <c>CLBlastSgemmStridedBatched</c>); the engine does not need it:
/// <see cref="TryLoad"/> is false where it is not installed, and <see cref="WhyNot"/> says why.
/// Both calls enqueue on the context's in-order queue and return without waiting.
/// </summary>
internal static unsafe class ClBlast
{
    // clblast_c.h: CLBlastLayout, CLBlastTranspose.
    private const int RowMajor = 101, TransposeNo = 111, TransposeYes = 112;

    // CLBlastSgemm(layout, a_transpose, b_transpose, m, n, k, alpha, a, a_offset, a_ld, b, b_offset, b_ld,
    //              beta, c, c_offset, c_ld, queue*, event*)
    private static delegate* unmanaged<int, int, int, nuint, nuint, nuint, float, nint, nuint, nuint, nint, nuint, nuint,
        float, nint, nuint, nuint, nint*, nint*, int> _sgemm;

    // CLBlastSgemmStridedBatched: as above with a stride after each leading dimension, and batch_count
    // before the queue.
    private static delegate* unmanaged<int, int, int, nuint, nuint, nuint, float, nint, nuint, nuint, nuint, nint, nuint, nuint, nuint,
        float, nint, nuint, nuint, nuint, nuint, nint*, nint*, int> _sgemmStridedBatched;

    private static readonly Lazy<string?> Loaded = new(Load);

    /// <summary>Loads the library and both entry points; null on success, else the reason.</summary>
    private static string? Load()
    {
        string[] names = OperatingSystem.IsWindows() ? ["clblast.dll"] : OperatingSystem.IsMacOS() ? ["libclblast.dylib"] : ["libclblast.so.1", "libclblast.so"];
        foreach (var name in names)
        {
            if (!NativeLibrary.TryLoad(name, out var lib)) continue;
            if (!NativeLibrary.TryGetExport(lib, "CLBlastSgemm", out var sgemm)
                || !NativeLibrary.TryGetExport(lib, "CLBlastSgemmStridedBatched", out var batched))
                return $"{name} lacks CLBlastSgemm or CLBlastSgemmStridedBatched (CLBlast 1.5 or newer is needed)";
            _sgemm = (delegate* unmanaged<int, int, int, nuint, nuint, nuint, float, nint, nuint, nuint, nint, nuint, nuint,
                float, nint, nuint, nuint, nint*, nint*, int>)sgemm;
            _sgemmStridedBatched = (delegate* unmanaged<int, int, int, nuint, nuint, nuint, float, nint, nuint, nuint, nuint, nint, nuint, nuint, nuint,
                float, nint, nuint, nuint, nuint, nuint, nint*, nint*, int>)batched;
            return null;
        }
        return $"no CLBlast library ({string.Join(", ", names)}) could be loaded";
    }

    /// <summary>True when CLBlast is installed and has both entry points.</summary>
    public static bool TryLoad() => Loaded.Value == null;

    /// <summary>Why CLBlast cannot be used (null when it can).</summary>
    public static string? WhyNot => Loaded.Value;

    /// <summary>C = alpha·op(A)·op(B) + beta·C (row-major, offsets and leading dimensions in floats) on the context's queue.
    /// CLBlast rejects k = 0 (the backend does that case itself).</summary>
    public static void Sgemm(OpenCLContext context, bool transA, bool transB, int m, int n, int k, float alpha,
        OpenCLBuffer a, int aOffset, int lda, OpenCLBuffer b, int bOffset, int ldb, float beta, OpenCLBuffer c, int cOffset, int ldc)
    {
        Need();
        nint queue = context.Queue;
        Check(_sgemm(RowMajor, Op(transA), Op(transB), (nuint)m, (nuint)n, (nuint)k,
            alpha, a.Handle, (nuint)aOffset, (nuint)lda, b.Handle, (nuint)bOffset, (nuint)ldb,
            beta, c.Handle, (nuint)cOffset, (nuint)ldc, &queue, null), "CLBlastSgemm");
    }

    /// <summary><paramref name="batch"/> GEMMs, problem i reading A, B, C at i·stride further (a stride of 0 shares the matrix).</summary>
    public static void SgemmStridedBatched(OpenCLContext context, int batch, bool transA, bool transB, int m, int n, int k, float alpha,
        OpenCLBuffer a, int aOffset, int lda, int strideA, OpenCLBuffer b, int bOffset, int ldb, int strideB,
        float beta, OpenCLBuffer c, int cOffset, int ldc, int strideC)
    {
        Need();
        nint queue = context.Queue;
        Check(_sgemmStridedBatched(RowMajor, Op(transA), Op(transB), (nuint)m, (nuint)n, (nuint)k,
            alpha, a.Handle, (nuint)aOffset, (nuint)lda, (nuint)strideA, b.Handle, (nuint)bOffset, (nuint)ldb, (nuint)strideB,
            beta, c.Handle, (nuint)cOffset, (nuint)ldc, (nuint)strideC, (nuint)batch, &queue, null), "CLBlastSgemmStridedBatched");
    }

    private static int Op(bool trans) => trans ? TransposeYes : TransposeNo;

    private static void Need()
    {
        if (!TryLoad()) throw new EngineException($"CLBlast is not available: {WhyNot} (Debian: apt-get install libclblast1)");
    }

    /// <summary>CLBlast returns OpenCL's codes, clBLAS's (−1024…−1007) and its own (−2050…−2039); each is named in the error.</summary>
    private static void Check(int status, string routine)
    {
        if (status != 0) throw new OpenCLException(routine, status);
    }

    /// <summary>The name of one of CLBlast's own status codes (clblast_c.h), or null for another code.</summary>
    public static string? StatusName(int status) => StatusNames.GetValueOrDefault(status);

    private static readonly Dictionary<int, string> StatusNames = new()
    {
        [-1024] = "CLBlastNotImplemented",
        [-1022] = "CLBlastInvalidMatrixA",
        [-1021] = "CLBlastInvalidMatrixB",
        [-1020] = "CLBlastInvalidMatrixC",
        [-1019] = "CLBlastInvalidVectorX",
        [-1018] = "CLBlastInvalidVectorY",
        [-1017] = "CLBlastInvalidDimension",
        [-1016] = "CLBlastInvalidLeadDimA",
        [-1015] = "CLBlastInvalidLeadDimB",
        [-1014] = "CLBlastInvalidLeadDimC",
        [-1013] = "CLBlastInvalidIncrementX",
        [-1012] = "CLBlastInvalidIncrementY",
        [-1011] = "CLBlastInsufficientMemoryA",
        [-1010] = "CLBlastInsufficientMemoryB",
        [-1009] = "CLBlastInsufficientMemoryC",
        [-1008] = "CLBlastInsufficientMemoryX",
        [-1007] = "CLBlastInsufficientMemoryY",
        [-2050] = "CLBlastInsufficientMemoryTemp",
        [-2049] = "CLBlastInvalidBatchCount",
        [-2048] = "CLBlastInvalidOverrideKernel",
        [-2047] = "CLBlastMissingOverrideParameter",
        [-2046] = "CLBlastInvalidLocalMemUsage",
        [-2045] = "CLBlastNoHalfPrecision",
        [-2044] = "CLBlastNoDoublePrecision",
        [-2043] = "CLBlastInvalidVectorScalar",
        [-2042] = "CLBlastInsufficientMemoryScalar",
        [-2041] = "CLBlastDatabaseError",
        [-2040] = "CLBlastUnknownError",
        [-2039] = "CLBlastUnexpectedError",
    };
}
