// GEMM micro-kernels. Every row is written out so that each accumulator is its own local, which the
// JIT keeps in a register; the (TM, TN) type arguments are constants, so unused rows compile away.
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Engine.Cpu;

public static unsafe partial class Blas
{
    /// <summary>
    /// Vector512 micro-kernel: C[TM×TN] (+)= A-sliver·B-sliver over kc steps. The packed A sliver holds
    /// TM floats per step, the packed B sliver TN floats (16 or 32) per step. TM ≤ 14; the JIT
    /// specialises each (TM, TN) pair and drops the unused accumulators.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Kernel512<TM, TN>(nint kc, float* a, float* b, float* c, nint ldc, float alpha, float beta)
        where TM : struct, IDim where TN : struct, IDim
    {
        Vector512<float> c0x0 = default, c0x1 = default;
        Vector512<float> c1x0 = default, c1x1 = default;
        Vector512<float> c2x0 = default, c2x1 = default;
        Vector512<float> c3x0 = default, c3x1 = default;
        Vector512<float> c4x0 = default, c4x1 = default;
        Vector512<float> c5x0 = default, c5x1 = default;
        Vector512<float> c6x0 = default, c6x1 = default;
        Vector512<float> c7x0 = default, c7x1 = default;
        Vector512<float> c8x0 = default, c8x1 = default;
        Vector512<float> c9x0 = default, c9x1 = default;
        Vector512<float> c10x0 = default, c10x1 = default;
        Vector512<float> c11x0 = default, c11x1 = default;
        Vector512<float> c12x0 = default, c12x1 = default;
        Vector512<float> c13x0 = default, c13x1 = default;
        if (Sse.IsSupported)
        {
            // Fetch the C tile now; it is read (or written) only after the k loop.
            { Sse.Prefetch0(c + 0 * ldc); Sse.Prefetch0(c + 0 * ldc + (TN.Value - 1)); }
            if (TM.Value > 1) { Sse.Prefetch0(c + 1 * ldc); Sse.Prefetch0(c + 1 * ldc + (TN.Value - 1)); }
            if (TM.Value > 2) { Sse.Prefetch0(c + 2 * ldc); Sse.Prefetch0(c + 2 * ldc + (TN.Value - 1)); }
            if (TM.Value > 3) { Sse.Prefetch0(c + 3 * ldc); Sse.Prefetch0(c + 3 * ldc + (TN.Value - 1)); }
            if (TM.Value > 4) { Sse.Prefetch0(c + 4 * ldc); Sse.Prefetch0(c + 4 * ldc + (TN.Value - 1)); }
            if (TM.Value > 5) { Sse.Prefetch0(c + 5 * ldc); Sse.Prefetch0(c + 5 * ldc + (TN.Value - 1)); }
            if (TM.Value > 6) { Sse.Prefetch0(c + 6 * ldc); Sse.Prefetch0(c + 6 * ldc + (TN.Value - 1)); }
            if (TM.Value > 7) { Sse.Prefetch0(c + 7 * ldc); Sse.Prefetch0(c + 7 * ldc + (TN.Value - 1)); }
            if (TM.Value > 8) { Sse.Prefetch0(c + 8 * ldc); Sse.Prefetch0(c + 8 * ldc + (TN.Value - 1)); }
            if (TM.Value > 9) { Sse.Prefetch0(c + 9 * ldc); Sse.Prefetch0(c + 9 * ldc + (TN.Value - 1)); }
            if (TM.Value > 10) { Sse.Prefetch0(c + 10 * ldc); Sse.Prefetch0(c + 10 * ldc + (TN.Value - 1)); }
            if (TM.Value > 11) { Sse.Prefetch0(c + 11 * ldc); Sse.Prefetch0(c + 11 * ldc + (TN.Value - 1)); }
            if (TM.Value > 12) { Sse.Prefetch0(c + 12 * ldc); Sse.Prefetch0(c + 12 * ldc + (TN.Value - 1)); }
            if (TM.Value > 13) { Sse.Prefetch0(c + 13 * ldc); Sse.Prefetch0(c + 13 * ldc + (TN.Value - 1)); }
        }
        Vector512<float> b0, b1, t;
        nint p = 0;
        for (; p + 2 <= kc; p += 2)
        {
            b0 = Vector512.Load(b);
            b1 = TN.Value > 16 ? Vector512.Load(b + 16) : default;
            { t = Vector512.Create(a[0]); c0x0 = Vector512.FusedMultiplyAdd(t, b0, c0x0); if (TN.Value > 16) c0x1 = Vector512.FusedMultiplyAdd(t, b1, c0x1); }
            if (TM.Value > 1) { t = Vector512.Create(a[1]); c1x0 = Vector512.FusedMultiplyAdd(t, b0, c1x0); if (TN.Value > 16) c1x1 = Vector512.FusedMultiplyAdd(t, b1, c1x1); }
            if (TM.Value > 2) { t = Vector512.Create(a[2]); c2x0 = Vector512.FusedMultiplyAdd(t, b0, c2x0); if (TN.Value > 16) c2x1 = Vector512.FusedMultiplyAdd(t, b1, c2x1); }
            if (TM.Value > 3) { t = Vector512.Create(a[3]); c3x0 = Vector512.FusedMultiplyAdd(t, b0, c3x0); if (TN.Value > 16) c3x1 = Vector512.FusedMultiplyAdd(t, b1, c3x1); }
            if (TM.Value > 4) { t = Vector512.Create(a[4]); c4x0 = Vector512.FusedMultiplyAdd(t, b0, c4x0); if (TN.Value > 16) c4x1 = Vector512.FusedMultiplyAdd(t, b1, c4x1); }
            if (TM.Value > 5) { t = Vector512.Create(a[5]); c5x0 = Vector512.FusedMultiplyAdd(t, b0, c5x0); if (TN.Value > 16) c5x1 = Vector512.FusedMultiplyAdd(t, b1, c5x1); }
            if (TM.Value > 6) { t = Vector512.Create(a[6]); c6x0 = Vector512.FusedMultiplyAdd(t, b0, c6x0); if (TN.Value > 16) c6x1 = Vector512.FusedMultiplyAdd(t, b1, c6x1); }
            if (TM.Value > 7) { t = Vector512.Create(a[7]); c7x0 = Vector512.FusedMultiplyAdd(t, b0, c7x0); if (TN.Value > 16) c7x1 = Vector512.FusedMultiplyAdd(t, b1, c7x1); }
            if (TM.Value > 8) { t = Vector512.Create(a[8]); c8x0 = Vector512.FusedMultiplyAdd(t, b0, c8x0); if (TN.Value > 16) c8x1 = Vector512.FusedMultiplyAdd(t, b1, c8x1); }
            if (TM.Value > 9) { t = Vector512.Create(a[9]); c9x0 = Vector512.FusedMultiplyAdd(t, b0, c9x0); if (TN.Value > 16) c9x1 = Vector512.FusedMultiplyAdd(t, b1, c9x1); }
            if (TM.Value > 10) { t = Vector512.Create(a[10]); c10x0 = Vector512.FusedMultiplyAdd(t, b0, c10x0); if (TN.Value > 16) c10x1 = Vector512.FusedMultiplyAdd(t, b1, c10x1); }
            if (TM.Value > 11) { t = Vector512.Create(a[11]); c11x0 = Vector512.FusedMultiplyAdd(t, b0, c11x0); if (TN.Value > 16) c11x1 = Vector512.FusedMultiplyAdd(t, b1, c11x1); }
            if (TM.Value > 12) { t = Vector512.Create(a[12]); c12x0 = Vector512.FusedMultiplyAdd(t, b0, c12x0); if (TN.Value > 16) c12x1 = Vector512.FusedMultiplyAdd(t, b1, c12x1); }
            if (TM.Value > 13) { t = Vector512.Create(a[13]); c13x0 = Vector512.FusedMultiplyAdd(t, b0, c13x0); if (TN.Value > 16) c13x1 = Vector512.FusedMultiplyAdd(t, b1, c13x1); }
            b0 = Vector512.Load(b + TN.Value);
            b1 = TN.Value > 16 ? Vector512.Load(b + TN.Value + 16) : default;
            { t = Vector512.Create(a[TM.Value + 0]); c0x0 = Vector512.FusedMultiplyAdd(t, b0, c0x0); if (TN.Value > 16) c0x1 = Vector512.FusedMultiplyAdd(t, b1, c0x1); }
            if (TM.Value > 1) { t = Vector512.Create(a[TM.Value + 1]); c1x0 = Vector512.FusedMultiplyAdd(t, b0, c1x0); if (TN.Value > 16) c1x1 = Vector512.FusedMultiplyAdd(t, b1, c1x1); }
            if (TM.Value > 2) { t = Vector512.Create(a[TM.Value + 2]); c2x0 = Vector512.FusedMultiplyAdd(t, b0, c2x0); if (TN.Value > 16) c2x1 = Vector512.FusedMultiplyAdd(t, b1, c2x1); }
            if (TM.Value > 3) { t = Vector512.Create(a[TM.Value + 3]); c3x0 = Vector512.FusedMultiplyAdd(t, b0, c3x0); if (TN.Value > 16) c3x1 = Vector512.FusedMultiplyAdd(t, b1, c3x1); }
            if (TM.Value > 4) { t = Vector512.Create(a[TM.Value + 4]); c4x0 = Vector512.FusedMultiplyAdd(t, b0, c4x0); if (TN.Value > 16) c4x1 = Vector512.FusedMultiplyAdd(t, b1, c4x1); }
            if (TM.Value > 5) { t = Vector512.Create(a[TM.Value + 5]); c5x0 = Vector512.FusedMultiplyAdd(t, b0, c5x0); if (TN.Value > 16) c5x1 = Vector512.FusedMultiplyAdd(t, b1, c5x1); }
            if (TM.Value > 6) { t = Vector512.Create(a[TM.Value + 6]); c6x0 = Vector512.FusedMultiplyAdd(t, b0, c6x0); if (TN.Value > 16) c6x1 = Vector512.FusedMultiplyAdd(t, b1, c6x1); }
            if (TM.Value > 7) { t = Vector512.Create(a[TM.Value + 7]); c7x0 = Vector512.FusedMultiplyAdd(t, b0, c7x0); if (TN.Value > 16) c7x1 = Vector512.FusedMultiplyAdd(t, b1, c7x1); }
            if (TM.Value > 8) { t = Vector512.Create(a[TM.Value + 8]); c8x0 = Vector512.FusedMultiplyAdd(t, b0, c8x0); if (TN.Value > 16) c8x1 = Vector512.FusedMultiplyAdd(t, b1, c8x1); }
            if (TM.Value > 9) { t = Vector512.Create(a[TM.Value + 9]); c9x0 = Vector512.FusedMultiplyAdd(t, b0, c9x0); if (TN.Value > 16) c9x1 = Vector512.FusedMultiplyAdd(t, b1, c9x1); }
            if (TM.Value > 10) { t = Vector512.Create(a[TM.Value + 10]); c10x0 = Vector512.FusedMultiplyAdd(t, b0, c10x0); if (TN.Value > 16) c10x1 = Vector512.FusedMultiplyAdd(t, b1, c10x1); }
            if (TM.Value > 11) { t = Vector512.Create(a[TM.Value + 11]); c11x0 = Vector512.FusedMultiplyAdd(t, b0, c11x0); if (TN.Value > 16) c11x1 = Vector512.FusedMultiplyAdd(t, b1, c11x1); }
            if (TM.Value > 12) { t = Vector512.Create(a[TM.Value + 12]); c12x0 = Vector512.FusedMultiplyAdd(t, b0, c12x0); if (TN.Value > 16) c12x1 = Vector512.FusedMultiplyAdd(t, b1, c12x1); }
            if (TM.Value > 13) { t = Vector512.Create(a[TM.Value + 13]); c13x0 = Vector512.FusedMultiplyAdd(t, b0, c13x0); if (TN.Value > 16) c13x1 = Vector512.FusedMultiplyAdd(t, b1, c13x1); }
            a += 2 * TM.Value;
            b += 2 * TN.Value;
        }
        if (p < kc)
        {
            b0 = Vector512.Load(b);
            b1 = TN.Value > 16 ? Vector512.Load(b + 16) : default;
            { t = Vector512.Create(a[0]); c0x0 = Vector512.FusedMultiplyAdd(t, b0, c0x0); if (TN.Value > 16) c0x1 = Vector512.FusedMultiplyAdd(t, b1, c0x1); }
            if (TM.Value > 1) { t = Vector512.Create(a[1]); c1x0 = Vector512.FusedMultiplyAdd(t, b0, c1x0); if (TN.Value > 16) c1x1 = Vector512.FusedMultiplyAdd(t, b1, c1x1); }
            if (TM.Value > 2) { t = Vector512.Create(a[2]); c2x0 = Vector512.FusedMultiplyAdd(t, b0, c2x0); if (TN.Value > 16) c2x1 = Vector512.FusedMultiplyAdd(t, b1, c2x1); }
            if (TM.Value > 3) { t = Vector512.Create(a[3]); c3x0 = Vector512.FusedMultiplyAdd(t, b0, c3x0); if (TN.Value > 16) c3x1 = Vector512.FusedMultiplyAdd(t, b1, c3x1); }
            if (TM.Value > 4) { t = Vector512.Create(a[4]); c4x0 = Vector512.FusedMultiplyAdd(t, b0, c4x0); if (TN.Value > 16) c4x1 = Vector512.FusedMultiplyAdd(t, b1, c4x1); }
            if (TM.Value > 5) { t = Vector512.Create(a[5]); c5x0 = Vector512.FusedMultiplyAdd(t, b0, c5x0); if (TN.Value > 16) c5x1 = Vector512.FusedMultiplyAdd(t, b1, c5x1); }
            if (TM.Value > 6) { t = Vector512.Create(a[6]); c6x0 = Vector512.FusedMultiplyAdd(t, b0, c6x0); if (TN.Value > 16) c6x1 = Vector512.FusedMultiplyAdd(t, b1, c6x1); }
            if (TM.Value > 7) { t = Vector512.Create(a[7]); c7x0 = Vector512.FusedMultiplyAdd(t, b0, c7x0); if (TN.Value > 16) c7x1 = Vector512.FusedMultiplyAdd(t, b1, c7x1); }
            if (TM.Value > 8) { t = Vector512.Create(a[8]); c8x0 = Vector512.FusedMultiplyAdd(t, b0, c8x0); if (TN.Value > 16) c8x1 = Vector512.FusedMultiplyAdd(t, b1, c8x1); }
            if (TM.Value > 9) { t = Vector512.Create(a[9]); c9x0 = Vector512.FusedMultiplyAdd(t, b0, c9x0); if (TN.Value > 16) c9x1 = Vector512.FusedMultiplyAdd(t, b1, c9x1); }
            if (TM.Value > 10) { t = Vector512.Create(a[10]); c10x0 = Vector512.FusedMultiplyAdd(t, b0, c10x0); if (TN.Value > 16) c10x1 = Vector512.FusedMultiplyAdd(t, b1, c10x1); }
            if (TM.Value > 11) { t = Vector512.Create(a[11]); c11x0 = Vector512.FusedMultiplyAdd(t, b0, c11x0); if (TN.Value > 16) c11x1 = Vector512.FusedMultiplyAdd(t, b1, c11x1); }
            if (TM.Value > 12) { t = Vector512.Create(a[12]); c12x0 = Vector512.FusedMultiplyAdd(t, b0, c12x0); if (TN.Value > 16) c12x1 = Vector512.FusedMultiplyAdd(t, b1, c12x1); }
            if (TM.Value > 13) { t = Vector512.Create(a[13]); c13x0 = Vector512.FusedMultiplyAdd(t, b0, c13x0); if (TN.Value > 16) c13x1 = Vector512.FusedMultiplyAdd(t, b1, c13x1); }
        }
        Vector512<float> va = Vector512.Create(alpha);
        if (beta == 0f)
        {
            { Vector512.Store(c0x0 * va, c + 0 * ldc); if (TN.Value > 16) Vector512.Store(c0x1 * va, c + 0 * ldc + 16); }
            if (TM.Value > 1) { Vector512.Store(c1x0 * va, c + 1 * ldc); if (TN.Value > 16) Vector512.Store(c1x1 * va, c + 1 * ldc + 16); }
            if (TM.Value > 2) { Vector512.Store(c2x0 * va, c + 2 * ldc); if (TN.Value > 16) Vector512.Store(c2x1 * va, c + 2 * ldc + 16); }
            if (TM.Value > 3) { Vector512.Store(c3x0 * va, c + 3 * ldc); if (TN.Value > 16) Vector512.Store(c3x1 * va, c + 3 * ldc + 16); }
            if (TM.Value > 4) { Vector512.Store(c4x0 * va, c + 4 * ldc); if (TN.Value > 16) Vector512.Store(c4x1 * va, c + 4 * ldc + 16); }
            if (TM.Value > 5) { Vector512.Store(c5x0 * va, c + 5 * ldc); if (TN.Value > 16) Vector512.Store(c5x1 * va, c + 5 * ldc + 16); }
            if (TM.Value > 6) { Vector512.Store(c6x0 * va, c + 6 * ldc); if (TN.Value > 16) Vector512.Store(c6x1 * va, c + 6 * ldc + 16); }
            if (TM.Value > 7) { Vector512.Store(c7x0 * va, c + 7 * ldc); if (TN.Value > 16) Vector512.Store(c7x1 * va, c + 7 * ldc + 16); }
            if (TM.Value > 8) { Vector512.Store(c8x0 * va, c + 8 * ldc); if (TN.Value > 16) Vector512.Store(c8x1 * va, c + 8 * ldc + 16); }
            if (TM.Value > 9) { Vector512.Store(c9x0 * va, c + 9 * ldc); if (TN.Value > 16) Vector512.Store(c9x1 * va, c + 9 * ldc + 16); }
            if (TM.Value > 10) { Vector512.Store(c10x0 * va, c + 10 * ldc); if (TN.Value > 16) Vector512.Store(c10x1 * va, c + 10 * ldc + 16); }
            if (TM.Value > 11) { Vector512.Store(c11x0 * va, c + 11 * ldc); if (TN.Value > 16) Vector512.Store(c11x1 * va, c + 11 * ldc + 16); }
            if (TM.Value > 12) { Vector512.Store(c12x0 * va, c + 12 * ldc); if (TN.Value > 16) Vector512.Store(c12x1 * va, c + 12 * ldc + 16); }
            if (TM.Value > 13) { Vector512.Store(c13x0 * va, c + 13 * ldc); if (TN.Value > 16) Vector512.Store(c13x1 * va, c + 13 * ldc + 16); }
        }
        else
        {
            Vector512<float> vb = Vector512.Create(beta);
            { float* q = c + 0 * ldc; Vector512.Store(c0x0 * va + Vector512.Load(q) * vb, q); if (TN.Value > 16) Vector512.Store(c0x1 * va + Vector512.Load(q + 16) * vb, q + 16); }
            if (TM.Value > 1) { float* q = c + 1 * ldc; Vector512.Store(c1x0 * va + Vector512.Load(q) * vb, q); if (TN.Value > 16) Vector512.Store(c1x1 * va + Vector512.Load(q + 16) * vb, q + 16); }
            if (TM.Value > 2) { float* q = c + 2 * ldc; Vector512.Store(c2x0 * va + Vector512.Load(q) * vb, q); if (TN.Value > 16) Vector512.Store(c2x1 * va + Vector512.Load(q + 16) * vb, q + 16); }
            if (TM.Value > 3) { float* q = c + 3 * ldc; Vector512.Store(c3x0 * va + Vector512.Load(q) * vb, q); if (TN.Value > 16) Vector512.Store(c3x1 * va + Vector512.Load(q + 16) * vb, q + 16); }
            if (TM.Value > 4) { float* q = c + 4 * ldc; Vector512.Store(c4x0 * va + Vector512.Load(q) * vb, q); if (TN.Value > 16) Vector512.Store(c4x1 * va + Vector512.Load(q + 16) * vb, q + 16); }
            if (TM.Value > 5) { float* q = c + 5 * ldc; Vector512.Store(c5x0 * va + Vector512.Load(q) * vb, q); if (TN.Value > 16) Vector512.Store(c5x1 * va + Vector512.Load(q + 16) * vb, q + 16); }
            if (TM.Value > 6) { float* q = c + 6 * ldc; Vector512.Store(c6x0 * va + Vector512.Load(q) * vb, q); if (TN.Value > 16) Vector512.Store(c6x1 * va + Vector512.Load(q + 16) * vb, q + 16); }
            if (TM.Value > 7) { float* q = c + 7 * ldc; Vector512.Store(c7x0 * va + Vector512.Load(q) * vb, q); if (TN.Value > 16) Vector512.Store(c7x1 * va + Vector512.Load(q + 16) * vb, q + 16); }
            if (TM.Value > 8) { float* q = c + 8 * ldc; Vector512.Store(c8x0 * va + Vector512.Load(q) * vb, q); if (TN.Value > 16) Vector512.Store(c8x1 * va + Vector512.Load(q + 16) * vb, q + 16); }
            if (TM.Value > 9) { float* q = c + 9 * ldc; Vector512.Store(c9x0 * va + Vector512.Load(q) * vb, q); if (TN.Value > 16) Vector512.Store(c9x1 * va + Vector512.Load(q + 16) * vb, q + 16); }
            if (TM.Value > 10) { float* q = c + 10 * ldc; Vector512.Store(c10x0 * va + Vector512.Load(q) * vb, q); if (TN.Value > 16) Vector512.Store(c10x1 * va + Vector512.Load(q + 16) * vb, q + 16); }
            if (TM.Value > 11) { float* q = c + 11 * ldc; Vector512.Store(c11x0 * va + Vector512.Load(q) * vb, q); if (TN.Value > 16) Vector512.Store(c11x1 * va + Vector512.Load(q + 16) * vb, q + 16); }
            if (TM.Value > 12) { float* q = c + 12 * ldc; Vector512.Store(c12x0 * va + Vector512.Load(q) * vb, q); if (TN.Value > 16) Vector512.Store(c12x1 * va + Vector512.Load(q + 16) * vb, q + 16); }
            if (TM.Value > 13) { float* q = c + 13 * ldc; Vector512.Store(c13x0 * va + Vector512.Load(q) * vb, q); if (TN.Value > 16) Vector512.Store(c13x1 * va + Vector512.Load(q + 16) * vb, q + 16); }
        }
    }

    /// <summary>
    /// Vector256 micro-kernel: C[TM×TN] (+)= A-sliver·B-sliver over kc steps. The packed A sliver holds
    /// TM floats per step, the packed B sliver TN floats (8 or 16) per step. TM ≤ 6; the JIT
    /// specialises each (TM, TN) pair and drops the unused accumulators.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Kernel256<TM, TN>(nint kc, float* a, float* b, float* c, nint ldc, float alpha, float beta)
        where TM : struct, IDim where TN : struct, IDim
    {
        Vector256<float> c0x0 = default, c0x1 = default;
        Vector256<float> c1x0 = default, c1x1 = default;
        Vector256<float> c2x0 = default, c2x1 = default;
        Vector256<float> c3x0 = default, c3x1 = default;
        Vector256<float> c4x0 = default, c4x1 = default;
        Vector256<float> c5x0 = default, c5x1 = default;
        if (Sse.IsSupported)
        {
            // Fetch the C tile now; it is read (or written) only after the k loop.
            { Sse.Prefetch0(c + 0 * ldc); Sse.Prefetch0(c + 0 * ldc + (TN.Value - 1)); }
            if (TM.Value > 1) { Sse.Prefetch0(c + 1 * ldc); Sse.Prefetch0(c + 1 * ldc + (TN.Value - 1)); }
            if (TM.Value > 2) { Sse.Prefetch0(c + 2 * ldc); Sse.Prefetch0(c + 2 * ldc + (TN.Value - 1)); }
            if (TM.Value > 3) { Sse.Prefetch0(c + 3 * ldc); Sse.Prefetch0(c + 3 * ldc + (TN.Value - 1)); }
            if (TM.Value > 4) { Sse.Prefetch0(c + 4 * ldc); Sse.Prefetch0(c + 4 * ldc + (TN.Value - 1)); }
            if (TM.Value > 5) { Sse.Prefetch0(c + 5 * ldc); Sse.Prefetch0(c + 5 * ldc + (TN.Value - 1)); }
        }
        Vector256<float> b0, b1, t;
        nint p = 0;
        for (; p + 2 <= kc; p += 2)
        {
            b0 = Vector256.Load(b);
            b1 = TN.Value > 8 ? Vector256.Load(b + 8) : default;
            { t = Vector256.Create(a[0]); c0x0 = Vector256.FusedMultiplyAdd(t, b0, c0x0); if (TN.Value > 8) c0x1 = Vector256.FusedMultiplyAdd(t, b1, c0x1); }
            if (TM.Value > 1) { t = Vector256.Create(a[1]); c1x0 = Vector256.FusedMultiplyAdd(t, b0, c1x0); if (TN.Value > 8) c1x1 = Vector256.FusedMultiplyAdd(t, b1, c1x1); }
            if (TM.Value > 2) { t = Vector256.Create(a[2]); c2x0 = Vector256.FusedMultiplyAdd(t, b0, c2x0); if (TN.Value > 8) c2x1 = Vector256.FusedMultiplyAdd(t, b1, c2x1); }
            if (TM.Value > 3) { t = Vector256.Create(a[3]); c3x0 = Vector256.FusedMultiplyAdd(t, b0, c3x0); if (TN.Value > 8) c3x1 = Vector256.FusedMultiplyAdd(t, b1, c3x1); }
            if (TM.Value > 4) { t = Vector256.Create(a[4]); c4x0 = Vector256.FusedMultiplyAdd(t, b0, c4x0); if (TN.Value > 8) c4x1 = Vector256.FusedMultiplyAdd(t, b1, c4x1); }
            if (TM.Value > 5) { t = Vector256.Create(a[5]); c5x0 = Vector256.FusedMultiplyAdd(t, b0, c5x0); if (TN.Value > 8) c5x1 = Vector256.FusedMultiplyAdd(t, b1, c5x1); }
            b0 = Vector256.Load(b + TN.Value);
            b1 = TN.Value > 8 ? Vector256.Load(b + TN.Value + 8) : default;
            { t = Vector256.Create(a[TM.Value + 0]); c0x0 = Vector256.FusedMultiplyAdd(t, b0, c0x0); if (TN.Value > 8) c0x1 = Vector256.FusedMultiplyAdd(t, b1, c0x1); }
            if (TM.Value > 1) { t = Vector256.Create(a[TM.Value + 1]); c1x0 = Vector256.FusedMultiplyAdd(t, b0, c1x0); if (TN.Value > 8) c1x1 = Vector256.FusedMultiplyAdd(t, b1, c1x1); }
            if (TM.Value > 2) { t = Vector256.Create(a[TM.Value + 2]); c2x0 = Vector256.FusedMultiplyAdd(t, b0, c2x0); if (TN.Value > 8) c2x1 = Vector256.FusedMultiplyAdd(t, b1, c2x1); }
            if (TM.Value > 3) { t = Vector256.Create(a[TM.Value + 3]); c3x0 = Vector256.FusedMultiplyAdd(t, b0, c3x0); if (TN.Value > 8) c3x1 = Vector256.FusedMultiplyAdd(t, b1, c3x1); }
            if (TM.Value > 4) { t = Vector256.Create(a[TM.Value + 4]); c4x0 = Vector256.FusedMultiplyAdd(t, b0, c4x0); if (TN.Value > 8) c4x1 = Vector256.FusedMultiplyAdd(t, b1, c4x1); }
            if (TM.Value > 5) { t = Vector256.Create(a[TM.Value + 5]); c5x0 = Vector256.FusedMultiplyAdd(t, b0, c5x0); if (TN.Value > 8) c5x1 = Vector256.FusedMultiplyAdd(t, b1, c5x1); }
            a += 2 * TM.Value;
            b += 2 * TN.Value;
        }
        if (p < kc)
        {
            b0 = Vector256.Load(b);
            b1 = TN.Value > 8 ? Vector256.Load(b + 8) : default;
            { t = Vector256.Create(a[0]); c0x0 = Vector256.FusedMultiplyAdd(t, b0, c0x0); if (TN.Value > 8) c0x1 = Vector256.FusedMultiplyAdd(t, b1, c0x1); }
            if (TM.Value > 1) { t = Vector256.Create(a[1]); c1x0 = Vector256.FusedMultiplyAdd(t, b0, c1x0); if (TN.Value > 8) c1x1 = Vector256.FusedMultiplyAdd(t, b1, c1x1); }
            if (TM.Value > 2) { t = Vector256.Create(a[2]); c2x0 = Vector256.FusedMultiplyAdd(t, b0, c2x0); if (TN.Value > 8) c2x1 = Vector256.FusedMultiplyAdd(t, b1, c2x1); }
            if (TM.Value > 3) { t = Vector256.Create(a[3]); c3x0 = Vector256.FusedMultiplyAdd(t, b0, c3x0); if (TN.Value > 8) c3x1 = Vector256.FusedMultiplyAdd(t, b1, c3x1); }
            if (TM.Value > 4) { t = Vector256.Create(a[4]); c4x0 = Vector256.FusedMultiplyAdd(t, b0, c4x0); if (TN.Value > 8) c4x1 = Vector256.FusedMultiplyAdd(t, b1, c4x1); }
            if (TM.Value > 5) { t = Vector256.Create(a[5]); c5x0 = Vector256.FusedMultiplyAdd(t, b0, c5x0); if (TN.Value > 8) c5x1 = Vector256.FusedMultiplyAdd(t, b1, c5x1); }
        }
        Vector256<float> va = Vector256.Create(alpha);
        if (beta == 0f)
        {
            { Vector256.Store(c0x0 * va, c + 0 * ldc); if (TN.Value > 8) Vector256.Store(c0x1 * va, c + 0 * ldc + 8); }
            if (TM.Value > 1) { Vector256.Store(c1x0 * va, c + 1 * ldc); if (TN.Value > 8) Vector256.Store(c1x1 * va, c + 1 * ldc + 8); }
            if (TM.Value > 2) { Vector256.Store(c2x0 * va, c + 2 * ldc); if (TN.Value > 8) Vector256.Store(c2x1 * va, c + 2 * ldc + 8); }
            if (TM.Value > 3) { Vector256.Store(c3x0 * va, c + 3 * ldc); if (TN.Value > 8) Vector256.Store(c3x1 * va, c + 3 * ldc + 8); }
            if (TM.Value > 4) { Vector256.Store(c4x0 * va, c + 4 * ldc); if (TN.Value > 8) Vector256.Store(c4x1 * va, c + 4 * ldc + 8); }
            if (TM.Value > 5) { Vector256.Store(c5x0 * va, c + 5 * ldc); if (TN.Value > 8) Vector256.Store(c5x1 * va, c + 5 * ldc + 8); }
        }
        else
        {
            Vector256<float> vb = Vector256.Create(beta);
            { float* q = c + 0 * ldc; Vector256.Store(c0x0 * va + Vector256.Load(q) * vb, q); if (TN.Value > 8) Vector256.Store(c0x1 * va + Vector256.Load(q + 8) * vb, q + 8); }
            if (TM.Value > 1) { float* q = c + 1 * ldc; Vector256.Store(c1x0 * va + Vector256.Load(q) * vb, q); if (TN.Value > 8) Vector256.Store(c1x1 * va + Vector256.Load(q + 8) * vb, q + 8); }
            if (TM.Value > 2) { float* q = c + 2 * ldc; Vector256.Store(c2x0 * va + Vector256.Load(q) * vb, q); if (TN.Value > 8) Vector256.Store(c2x1 * va + Vector256.Load(q + 8) * vb, q + 8); }
            if (TM.Value > 3) { float* q = c + 3 * ldc; Vector256.Store(c3x0 * va + Vector256.Load(q) * vb, q); if (TN.Value > 8) Vector256.Store(c3x1 * va + Vector256.Load(q + 8) * vb, q + 8); }
            if (TM.Value > 4) { float* q = c + 4 * ldc; Vector256.Store(c4x0 * va + Vector256.Load(q) * vb, q); if (TN.Value > 8) Vector256.Store(c4x1 * va + Vector256.Load(q + 8) * vb, q + 8); }
            if (TM.Value > 5) { float* q = c + 5 * ldc; Vector256.Store(c5x0 * va + Vector256.Load(q) * vb, q); if (TN.Value > 8) Vector256.Store(c5x1 * va + Vector256.Load(q + 8) * vb, q + 8); }
        }
    }

    /// <summary>
    /// Vector128 micro-kernel: C[TM×TN] (+)= A-sliver·B-sliver over kc steps. The packed A sliver holds
    /// TM floats per step, the packed B sliver TN floats (4 or 8) per step. TM ≤ 4; the JIT
    /// specialises each (TM, TN) pair and drops the unused accumulators.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Kernel128<TM, TN>(nint kc, float* a, float* b, float* c, nint ldc, float alpha, float beta)
        where TM : struct, IDim where TN : struct, IDim
    {
        Vector128<float> c0x0 = default, c0x1 = default;
        Vector128<float> c1x0 = default, c1x1 = default;
        Vector128<float> c2x0 = default, c2x1 = default;
        Vector128<float> c3x0 = default, c3x1 = default;
        if (Sse.IsSupported)
        {
            // Fetch the C tile now; it is read (or written) only after the k loop.
            { Sse.Prefetch0(c + 0 * ldc); Sse.Prefetch0(c + 0 * ldc + (TN.Value - 1)); }
            if (TM.Value > 1) { Sse.Prefetch0(c + 1 * ldc); Sse.Prefetch0(c + 1 * ldc + (TN.Value - 1)); }
            if (TM.Value > 2) { Sse.Prefetch0(c + 2 * ldc); Sse.Prefetch0(c + 2 * ldc + (TN.Value - 1)); }
            if (TM.Value > 3) { Sse.Prefetch0(c + 3 * ldc); Sse.Prefetch0(c + 3 * ldc + (TN.Value - 1)); }
        }
        Vector128<float> b0, b1, t;
        nint p = 0;
        for (; p + 2 <= kc; p += 2)
        {
            b0 = Vector128.Load(b);
            b1 = TN.Value > 4 ? Vector128.Load(b + 4) : default;
            { t = Vector128.Create(a[0]); c0x0 = Vector128.MultiplyAddEstimate(t, b0, c0x0); if (TN.Value > 4) c0x1 = Vector128.MultiplyAddEstimate(t, b1, c0x1); }
            if (TM.Value > 1) { t = Vector128.Create(a[1]); c1x0 = Vector128.MultiplyAddEstimate(t, b0, c1x0); if (TN.Value > 4) c1x1 = Vector128.MultiplyAddEstimate(t, b1, c1x1); }
            if (TM.Value > 2) { t = Vector128.Create(a[2]); c2x0 = Vector128.MultiplyAddEstimate(t, b0, c2x0); if (TN.Value > 4) c2x1 = Vector128.MultiplyAddEstimate(t, b1, c2x1); }
            if (TM.Value > 3) { t = Vector128.Create(a[3]); c3x0 = Vector128.MultiplyAddEstimate(t, b0, c3x0); if (TN.Value > 4) c3x1 = Vector128.MultiplyAddEstimate(t, b1, c3x1); }
            b0 = Vector128.Load(b + TN.Value);
            b1 = TN.Value > 4 ? Vector128.Load(b + TN.Value + 4) : default;
            { t = Vector128.Create(a[TM.Value + 0]); c0x0 = Vector128.MultiplyAddEstimate(t, b0, c0x0); if (TN.Value > 4) c0x1 = Vector128.MultiplyAddEstimate(t, b1, c0x1); }
            if (TM.Value > 1) { t = Vector128.Create(a[TM.Value + 1]); c1x0 = Vector128.MultiplyAddEstimate(t, b0, c1x0); if (TN.Value > 4) c1x1 = Vector128.MultiplyAddEstimate(t, b1, c1x1); }
            if (TM.Value > 2) { t = Vector128.Create(a[TM.Value + 2]); c2x0 = Vector128.MultiplyAddEstimate(t, b0, c2x0); if (TN.Value > 4) c2x1 = Vector128.MultiplyAddEstimate(t, b1, c2x1); }
            if (TM.Value > 3) { t = Vector128.Create(a[TM.Value + 3]); c3x0 = Vector128.MultiplyAddEstimate(t, b0, c3x0); if (TN.Value > 4) c3x1 = Vector128.MultiplyAddEstimate(t, b1, c3x1); }
            a += 2 * TM.Value;
            b += 2 * TN.Value;
        }
        if (p < kc)
        {
            b0 = Vector128.Load(b);
            b1 = TN.Value > 4 ? Vector128.Load(b + 4) : default;
            { t = Vector128.Create(a[0]); c0x0 = Vector128.MultiplyAddEstimate(t, b0, c0x0); if (TN.Value > 4) c0x1 = Vector128.MultiplyAddEstimate(t, b1, c0x1); }
            if (TM.Value > 1) { t = Vector128.Create(a[1]); c1x0 = Vector128.MultiplyAddEstimate(t, b0, c1x0); if (TN.Value > 4) c1x1 = Vector128.MultiplyAddEstimate(t, b1, c1x1); }
            if (TM.Value > 2) { t = Vector128.Create(a[2]); c2x0 = Vector128.MultiplyAddEstimate(t, b0, c2x0); if (TN.Value > 4) c2x1 = Vector128.MultiplyAddEstimate(t, b1, c2x1); }
            if (TM.Value > 3) { t = Vector128.Create(a[3]); c3x0 = Vector128.MultiplyAddEstimate(t, b0, c3x0); if (TN.Value > 4) c3x1 = Vector128.MultiplyAddEstimate(t, b1, c3x1); }
        }
        Vector128<float> va = Vector128.Create(alpha);
        if (beta == 0f)
        {
            { Vector128.Store(c0x0 * va, c + 0 * ldc); if (TN.Value > 4) Vector128.Store(c0x1 * va, c + 0 * ldc + 4); }
            if (TM.Value > 1) { Vector128.Store(c1x0 * va, c + 1 * ldc); if (TN.Value > 4) Vector128.Store(c1x1 * va, c + 1 * ldc + 4); }
            if (TM.Value > 2) { Vector128.Store(c2x0 * va, c + 2 * ldc); if (TN.Value > 4) Vector128.Store(c2x1 * va, c + 2 * ldc + 4); }
            if (TM.Value > 3) { Vector128.Store(c3x0 * va, c + 3 * ldc); if (TN.Value > 4) Vector128.Store(c3x1 * va, c + 3 * ldc + 4); }
        }
        else
        {
            Vector128<float> vb = Vector128.Create(beta);
            { float* q = c + 0 * ldc; Vector128.Store(c0x0 * va + Vector128.Load(q) * vb, q); if (TN.Value > 4) Vector128.Store(c0x1 * va + Vector128.Load(q + 4) * vb, q + 4); }
            if (TM.Value > 1) { float* q = c + 1 * ldc; Vector128.Store(c1x0 * va + Vector128.Load(q) * vb, q); if (TN.Value > 4) Vector128.Store(c1x1 * va + Vector128.Load(q + 4) * vb, q + 4); }
            if (TM.Value > 2) { float* q = c + 2 * ldc; Vector128.Store(c2x0 * va + Vector128.Load(q) * vb, q); if (TN.Value > 4) Vector128.Store(c2x1 * va + Vector128.Load(q + 4) * vb, q + 4); }
            if (TM.Value > 3) { float* q = c + 3 * ldc; Vector128.Store(c3x0 * va + Vector128.Load(q) * vb, q); if (TN.Value > 4) Vector128.Store(c3x1 * va + Vector128.Load(q + 4) * vb, q + 4); }
        }
    }
}
