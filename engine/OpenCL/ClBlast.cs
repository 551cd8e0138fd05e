using System.Runtime.InteropServices;

namespace Engine.OpenCL;

/// <summary>
/// Optional: CLBlast's SGEMM (a tuned OpenCL BLAS; Debian's `libclblast1`), loaded on first use,
/// for comparing with the engine's own GEMM kernel (bench/OpenCLBench). The engine does not
/// need it: <see cref="TryLoad"/> is false where it is not installed.
/// </summary>
internal static unsafe class ClBlast
{
    private const int RowMajor = 101, TransposeNo = 111, TransposeYes = 112;

    private static readonly Lazy<nint> Entry = new(() =>
    {
        string[] names = OperatingSystem.IsWindows() ? ["clblast.dll"] : OperatingSystem.IsMacOS() ? ["libclblast.dylib"] : ["libclblast.so.1", "libclblast.so"];
        foreach (var name in names)
            if (NativeLibrary.TryLoad(name, out var lib) && NativeLibrary.TryGetExport(lib, "CLBlastSgemm", out var f)) return f;
        return 0;
    });

    public static bool TryLoad() => Entry.Value != 0;

    /// <summary>C = alpha·op(A)·op(B) + beta·C (row-major, offsets and leading dimensions in floats) on the context's queue.</summary>
    public static void Sgemm(OpenCLContext context, bool transA, bool transB, int m, int n, int k, float alpha,
        OpenCLBuffer a, int aOffset, int lda, OpenCLBuffer b, int bOffset, int ldb, float beta, OpenCLBuffer c, int cOffset, int ldc)
    {
        if (!TryLoad()) throw new EngineException("CLBlast is not installed (Debian: apt-get install libclblast1)");
        var f = (delegate* unmanaged<int, int, int, nuint, nuint, nuint, float, nint, nuint, nuint, nint, nuint, nuint, float, nint, nuint, nuint, nint*, nint*, int>)Entry.Value;
        nint queue = context.Queue;
        int status = f(RowMajor, transA ? TransposeYes : TransposeNo, transB ? TransposeYes : TransposeNo, (nuint)m, (nuint)n, (nuint)k,
            alpha, a.Handle, (nuint)aOffset, (nuint)lda, b.Handle, (nuint)bOffset, (nuint)ldb, beta, c.Handle, (nuint)cOffset, (nuint)ldc, &queue, null);
        // CLBlast returns OpenCL's codes, and its own below -1000.
        if (status != 0) throw new OpenCLException("CLBlastSgemm", status);
    }
}
