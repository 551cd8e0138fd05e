using System.Buffers;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Engine.Cpu;

/// <summary>Packing of A and B panels into the contiguous slivers the micro-kernels stream (see <see cref="Blas"/>).</summary>
public static unsafe partial class Blas
{
    // ---- packing -------------------------------------------------------------------------------

    /// <summary>
    /// Packs a block of <paramref name="kc"/> source rows × <paramref name="cols"/> columns whose rows
    /// are contiguous (src[p·ld + j]) into slivers: the sliver starting at column j, of width w
    /// (chosen from <paramref name="widths"/> as the kernels will: <see cref="KernelSet.PickBalanced"/>
    /// when <paramref name="balanced"/>, for rows of A), lands at dst + j·kc as
    /// dst[j·kc + p·w + r] = src[p·ld + j + r], zero-padded past <paramref name="cols"/>. Walks the
    /// source row by row, so strided rows are each read once, in order.
    /// </summary>
    private static void PackRowBlock(float* src, nint ld, int kc, int cols, int[] widths, bool balanced, float* dst)
        => PackRows(src, ld, kc, 0, kc, cols, widths, balanced, dst);

    /// <summary><see cref="PackRowBlock"/> for <paramref name="rows"/> source rows that are rows
    /// <paramref name="firstRow"/>… of a block of <paramref name="kc"/> rows (the rest packed by other calls).</summary>
    private static void PackRows(float* src, nint ld, int rows, int firstRow, int kc, int cols, int[] widths, bool balanced, float* dst)
    {
        int w0 = widths[0];
        int full = 0;
        while (cols - full >= w0 && (balanced ? KernelSet.PickBalanced(widths, cols - full) : KernelSet.Pick(widths, cols - full)) == 0)
            full += w0;
        for (int p = firstRow; p < firstRow + rows; p++, src += ld)
        {
            int j = 0;
            float* d = dst + (nint)p * w0;
            nint step = (nint)kc * w0;
            switch (w0)
            {
                case 32:
                    for (; j < full; j += 32, d += step)
                    {
                        Vector256.Store(Vector256.Load(src + j), d);
                        Vector256.Store(Vector256.Load(src + j + 8), d + 8);
                        Vector256.Store(Vector256.Load(src + j + 16), d + 16);
                        Vector256.Store(Vector256.Load(src + j + 24), d + 24);
                    }
                    break;
                case 16:
                    for (; j < full; j += 16, d += step)
                    {
                        Vector256.Store(Vector256.Load(src + j), d);
                        Vector256.Store(Vector256.Load(src + j + 8), d + 8);
                    }
                    break;
                case 12:
                    for (; j < full; j += 12, d += step)
                    {
                        Vector256.Store(Vector256.Load(src + j), d);
                        Vector128.Store(Vector128.Load(src + j + 8), d + 8);
                    }
                    break;
                case 8:
                    for (; j < full; j += 8, d += step)
                        Vector256.Store(Vector256.Load(src + j), d);
                    break;
                case 6:
                    for (; j < full; j += 6, d += step)
                    {
                        Vector128.Store(Vector128.Load(src + j), d);
                        *(double*)(d + 4) = *(double*)(src + j + 4);
                    }
                    break;
                default:
                    for (; j < full; j += w0, d += step)
                        for (int r = 0; r < w0; r++) d[r] = src[j + r];
                    break;
            }
            while (j < cols)
            {
                int w = widths[balanced ? KernelSet.PickBalanced(widths, cols - j) : KernelSet.Pick(widths, cols - j)];
                int valid = Math.Min(w, cols - j);
                float* e = dst + (nint)j * kc + (nint)p * w;
                int r = 0;
                for (; r + 8 <= valid; r += 8) Vector256.Store(Vector256.Load(src + j + r), e + r);
                for (; r < valid; r++) e[r] = src[j + r];
                for (; r < w; r++) e[r] = 0f;
                j += w;
            }
        }
    }

    /// <summary>dst[p·w + r] = src[r·ld + p] for r &lt; valid, 0 for valid ≤ r &lt; w; p &lt; kc:
    /// a transposing pack, in 8×8 (AVX) or 4×4 (SSE) blocks where it can.</summary>
    private static void PackTransposed(float* src, nint ld, int kc, int w, int valid, float* dst)
    {
        int r = 0;
        if (w == 6 && valid == 6 && Avx.IsSupported && kc > 8)
        {
            // The AVX2 family's 6-row slivers: 8 columns of the 6 rows are 48 consecutive floats of
            // the sliver. Transpose them as an 8×8 block (two zero rows) and store its rows 6 floats
            // apart in ascending order: each store's last two (zero) floats are overwritten by the
            // next. The last columns, whose overshoot would leave the sliver, go the general way.
            var zero = Vector256<float>.Zero;
            int p = 0;
            for (; p + 8 < kc; p += 8)
            {
                if ((p & 15) == 0)
                {
                    // The next sliver's rows (prefetches do not fault past the matrix).
                    float* next = src + 6 * ld + p;
                    Sse.Prefetch0(next); Sse.Prefetch0(next + ld); Sse.Prefetch0(next + 2 * ld);
                    Sse.Prefetch0(next + 3 * ld); Sse.Prefetch0(next + 4 * ld); Sse.Prefetch0(next + 5 * ld);
                }
                Transpose8x8(Avx.LoadVector256(src + p), Avx.LoadVector256(src + ld + p), Avx.LoadVector256(src + 2 * ld + p),
                    Avx.LoadVector256(src + 3 * ld + p), Avx.LoadVector256(src + 4 * ld + p), Avx.LoadVector256(src + 5 * ld + p),
                    zero, zero, dst + (nint)p * 6, 6);
            }
            PackTransposed(src + p, ld, kc - p, w, valid, dst + (nint)p * 6);
            return;
        }
        if (Avx.IsSupported)
        {
            for (; r + 8 <= valid; r += 8)
            {
                float* s = src + r * ld;
                int p = 0;
                for (; p + 8 <= kc; p += 8) Transpose8x8(s + p, ld, dst + (nint)p * w + r, w);
                for (; p < kc; p++)
                    for (int q = 0; q < 8; q++) dst[(nint)p * w + r + q] = s[q * ld + p];
            }
        }
        if (Sse.IsSupported)
        {
            for (; r + 4 <= valid; r += 4)
            {
                float* s = src + r * ld;
                int p = 0;
                for (; p + 4 <= kc; p += 4) Transpose4x4(s + p, ld, dst + (nint)p * w + r, w);
                for (; p < kc; p++)
                    for (int q = 0; q < 4; q++) dst[(nint)p * w + r + q] = s[q * ld + p];
            }
            for (; r + 2 <= valid; r += 2)
            {
                // Two rows (the tail of a 6-row sliver): interleave them and store pairs.
                float* s = src + r * ld;
                float* d = dst + r;
                int p = 0;
                for (; p + 4 <= kc; p += 4, d += 4 * w)
                {
                    var x = Sse.LoadVector128(s + p);
                    var y = Sse.LoadVector128(s + ld + p);
                    var lo = Sse.UnpackLow(x, y);
                    var hi = Sse.UnpackHigh(x, y);
                    Sse.StoreLow(d, lo);
                    Sse.StoreHigh(d + w, lo);
                    Sse.StoreLow(d + 2 * w, hi);
                    Sse.StoreHigh(d + 3 * w, hi);
                }
                for (; p < kc; p++, d += w)
                {
                    d[0] = s[p];
                    d[1] = s[ld + p];
                }
            }
        }
        for (; r < valid; r++)
        {
            float* s = src + r * ld;
            for (int p = 0; p < kc; p++) dst[(nint)p * w + r] = s[p];
        }
        if (valid < w)
            for (int p = 0; p < kc; p++)
                for (int q = valid; q < w; q++) dst[(nint)p * w + q] = 0f;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Transpose8x8(float* s, nint ld, float* d, nint dld) =>
        Transpose8x8(Avx.LoadVector256(s), Avx.LoadVector256(s + ld), Avx.LoadVector256(s + 2 * ld), Avx.LoadVector256(s + 3 * ld),
            Avx.LoadVector256(s + 4 * ld), Avx.LoadVector256(s + 5 * ld), Avx.LoadVector256(s + 6 * ld), Avx.LoadVector256(s + 7 * ld), d, dld);

    /// <summary>Stores the transpose of the 8 × 8 block whose rows are r0…r7: row i of the result at d + i·dld.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Transpose8x8(Vector256<float> r0, Vector256<float> r1, Vector256<float> r2, Vector256<float> r3,
        Vector256<float> r4, Vector256<float> r5, Vector256<float> r6, Vector256<float> r7, float* d, nint dld)
    {
        var t0 = Avx.UnpackLow(r0, r1);
        var t1 = Avx.UnpackHigh(r0, r1);
        var t2 = Avx.UnpackLow(r2, r3);
        var t3 = Avx.UnpackHigh(r2, r3);
        var t4 = Avx.UnpackLow(r4, r5);
        var t5 = Avx.UnpackHigh(r4, r5);
        var t6 = Avx.UnpackLow(r6, r7);
        var t7 = Avx.UnpackHigh(r6, r7);
        var u0 = Avx.Shuffle(t0, t2, 0x44);
        var u1 = Avx.Shuffle(t0, t2, 0xEE);
        var u2 = Avx.Shuffle(t1, t3, 0x44);
        var u3 = Avx.Shuffle(t1, t3, 0xEE);
        var u4 = Avx.Shuffle(t4, t6, 0x44);
        var u5 = Avx.Shuffle(t4, t6, 0xEE);
        var u6 = Avx.Shuffle(t5, t7, 0x44);
        var u7 = Avx.Shuffle(t5, t7, 0xEE);
        Avx.Store(d, Avx.Permute2x128(u0, u4, 0x20));
        Avx.Store(d + dld, Avx.Permute2x128(u1, u5, 0x20));
        Avx.Store(d + 2 * dld, Avx.Permute2x128(u2, u6, 0x20));
        Avx.Store(d + 3 * dld, Avx.Permute2x128(u3, u7, 0x20));
        Avx.Store(d + 4 * dld, Avx.Permute2x128(u0, u4, 0x31));
        Avx.Store(d + 5 * dld, Avx.Permute2x128(u1, u5, 0x31));
        Avx.Store(d + 6 * dld, Avx.Permute2x128(u2, u6, 0x31));
        Avx.Store(d + 7 * dld, Avx.Permute2x128(u3, u7, 0x31));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Transpose4x4(float* s, nint ld, float* d, nint dld)
    {
        var r0 = Sse.LoadVector128(s);
        var r1 = Sse.LoadVector128(s + ld);
        var r2 = Sse.LoadVector128(s + 2 * ld);
        var r3 = Sse.LoadVector128(s + 3 * ld);
        var t0 = Sse.UnpackLow(r0, r1);
        var t1 = Sse.UnpackLow(r2, r3);
        var t2 = Sse.UnpackHigh(r0, r1);
        var t3 = Sse.UnpackHigh(r2, r3);
        Sse.Store(d, Sse.MoveLowToHigh(t0, t1));
        Sse.Store(d + dld, Sse.MoveHighToLow(t1, t0));
        Sse.Store(d + 2 * dld, Sse.MoveLowToHigh(t2, t3));
        Sse.Store(d + 3 * dld, Sse.MoveHighToLow(t3, t2));
    }

    /// <summary>Per-thread packing buffers, allocated once per thread in <see cref="HugePages"/>
    /// memory and freed when the thread is gone.</summary>
    private sealed class PackBuffers
    {
        [ThreadStatic] private static PackBuffers? current;

        private readonly void* storage;
        public readonly float* A, B;

        /// <summary>Scratch for B operands made on the fly (<see cref="Im2ColB"/>): one row of a
        /// B block, or the rows of one transposed sliver.</summary>
        public readonly float* Rows;

        private PackBuffers()
        {
            nint aSize = KernelSet.MaxPackA, bSize = KernelSet.MaxPackB, rowsSize = KernelSet.MaxPackRows;
            aSize = (aSize + 15) & ~15; // each part starts on a cache line
            bSize = (bSize + 15) & ~15;
            storage = HugePages.Alloc((nuint)(aSize + bSize + rowsSize) * sizeof(float), out _);
            A = (float*)storage;
            B = A + aSize;
            Rows = B + bSize;
        }

        ~PackBuffers() => HugePages.Free(storage);

        public static PackBuffers Get() => current ??= new PackBuffers();

        private float[] padded = [];

        /// <summary>Scratch for padded images (<see cref="Im2ColB.Make"/>), grown to the largest size asked (pinned).</summary>
        public float* Padded(long size)
        {
            if (padded.Length < size) padded = GC.AllocateUninitializedArray<float>(checked((int)size), pinned: true);
            return (float*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(padded));
        }
    }
}
