using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Engine.Layers;

/// <summary>PoolingLayer's 2-D MAX and AVE kernels for one plane: column maxima (sums) over the window's rows, then the windows along each row, the interior ones 8 at a time.</summary>
public sealed partial class PoolingLayer
{
    // ---- one plane, 2-D -------------------------------------------------------------------

    /// <summary>
    /// MAX over one plane, in two passes per output row: the maximum of each input column over the
    /// window's rows (vectors, contiguous), then of those over each window's columns. The result is
    /// the row-major scan's (Caffe's: the first cell starts, a later one wins only when strictly
    /// larger): each column keeps its first maximum, and between columns an equal value wins only
    /// with a smaller index, i.e. an earlier row.
    /// </summary>
    private unsafe void MaxPlane(ReadOnlySpan<float> src, Span<float> dst, Span<int> mask)
    {
        int height = _height, width = _width, outH = _outH, outW = _outW;
        int kernelH = _geo.KernelH, kernelW = _geo.KernelW, strideH = _geo.StrideH, strideW = _geo.StrideW, padH = _geo.PadH, padW = _geo.PadW;
        if (src.Length < height * width || dst.Length < outH * outW || mask.Length < outH * outW)
            throw new ArgumentException("plane buffers are too short");
        if (width > 2048)
        {
            fixed (float* s = src, d = dst)
            fixed (int* m = mask)
                for (int ph = 0; ph < outH; ph++)
                {
                    int h0 = ph * strideH - padH;
                    for (int pw = 0; pw < outW; pw++) MaxCell(s, d, m, ph, pw, Math.Max(h0, 0), Math.Min(h0 + kernelH, height));
                }
            return;
        }
        // 16 spare cells: MaxWindowsVector's stride-2 reads run up to 15 past the last column it keeps.
        float* best = stackalloc float[width + 16];
        int* arg = stackalloc int[width + 16];
        fixed (float* s = src, d = dst)
        fixed (int* m = mask)
        {
            for (int ph = 0; ph < outH; ph++)
            {
                int hStart = ph * strideH - padH;
                int hEnd = Math.Min(hStart + kernelH, height);
                hStart = Math.Max(hStart, 0);

                // Columns: best[x] = max over rows [hStart, hEnd) of s[h, x], arg[x] its first index.
                float* row = s + hStart * width;
                int x = 0;
                if (Vector256.IsHardwareAccelerated)
                {
                    var step = Vector256.Create(width);
                    for (; x + 8 <= width; x += 8)
                    {
                        var b = Vector256.Load(row + x);
                        var a = Vector256.Create(hStart * width + x) + Vector256.Create(0, 1, 2, 3, 4, 5, 6, 7);
                        var idx = a;
                        for (int h = hStart + 1; h < hEnd; h++)
                        {
                            idx += step;
                            var v = Vector256.Load(row + (h - hStart) * width + x);
                            var larger = Vector256.GreaterThan(v, b);
                            b = Vector256.ConditionalSelect(larger, v, b);
                            a = Vector256.ConditionalSelect(larger.AsInt32(), idx, a);
                        }
                        b.Store(best + x);
                        a.Store(arg + x);
                    }
                }
                for (; x < width; x++)
                {
                    float b = row[x];
                    int a = hStart * width + x;
                    for (int h = hStart + 1; h < hEnd; h++)
                    {
                        float v = s[h * width + x];
                        bool larger = v > b;
                        b = larger ? v : b;
                        a = larger ? h * width + x : a;
                    }
                    best[x] = b;
                    arg[x] = a;
                }

                // Windows along the row: the interior ones 8 at a time where the stride allows, the
                // clipped ones at either end one by one.
                float* dRow = d + ph * outW;
                int* mRow = m + ph * outW;
                var (lo, hi) = InteriorWindows(outW, kernelW, strideW, padW, width);
                int pw = Vector256.IsHardwareAccelerated ? MaxWindowsVector(best, arg, dRow, mRow, lo, hi, kernelW, strideW, padW) : lo;
                MaxWindows(best, arg, dRow, mRow, 0, lo, kernelW, strideW, padW, width);
                MaxWindows(best, arg, dRow, mRow, pw, outW, kernelW, strideW, padW, width);
            }
        }
    }

    /// <summary>The outputs [lo, hi) along an axis whose windows lie wholly inside the input
    /// (lo ≤ hi; the rest are clipped by the padding).</summary>
    private static (int Lo, int Hi) InteriorWindows(int outSize, int kernel, int stride, int pad, int size)
    {
        int lo = Math.Min((pad + stride - 1) / stride, outSize);
        int hi = size + pad - kernel < 0 ? lo : Math.Min(outSize, (size + pad - kernel) / stride + 1);
        return (lo, Math.Max(lo, hi));
    }

    /// <summary>MAX windows [from, to) of one output row over the column maxima
    /// <paramref name="best"/> (first row index of each in <paramref name="arg"/>): the first column
    /// starts, a later one wins when larger, or equal with a smaller index (an earlier row).</summary>
    private static unsafe void MaxWindows(float* best, int* arg, float* dRow, int* mRow, int from, int to, int kernelW, int strideW, int padW, int width)
    {
        for (int pw = from; pw < to; pw++)
        {
            int wStart = pw * strideW - padW;
            int wEnd = Math.Min(wStart + kernelW, width);
            wStart = Math.Max(wStart, 0);
            float b = best[wStart];
            int a = arg[wStart];
            for (int w = wStart + 1; w < wEnd; w++)
            {
                float v = best[w];
                int i = arg[w];
                // Selected with masks, not branches: which cell wins is unpredictable.
                int win = -((v > b ? 1 : 0) | ((v == b ? 1 : 0) & (i < a ? 1 : 0)));
                b = BitConverter.Int32BitsToSingle((BitConverter.SingleToInt32Bits(v) & win) | (BitConverter.SingleToInt32Bits(b) & ~win));
                a = (i & win) | (a & ~win);
            }
            dRow[pw] = b;
            mRow[pw] = a;
        }
    }

    /// <summary><see cref="MaxWindows"/> for interior windows [lo, hi), 8 outputs per step, with
    /// stride 1 or 2 (stride 2 reads 16 columns per window column and keeps every other one: the
    /// scratch rows carry 16 floats of slack). Returns the first output it left.</summary>
    private static unsafe int MaxWindowsVector(float* best, int* arg, float* dRow, int* mRow, int lo, int hi, int kernelW, int strideW, int padW)
    {
        if ((strideW != 1 && !(strideW == 2 && Avx2.IsSupported)) || hi - lo < 8) return lo;
        for (int pw = lo; ; pw += 8)
        {
            pw = Math.Min(pw, hi - 8); // the last group ends at hi, computing a few outputs again
            float* bp = best + (pw * strideW - padW);
            int* ap = arg + (pw * strideW - padW);
            var b = Strided(bp, strideW);
            var a = Strided((float*)ap, strideW).AsInt32();
            for (int j = 1; j < kernelW; j++)
            {
                var v = Strided(bp + j, strideW);
                var i = Strided((float*)(ap + j), strideW).AsInt32();
                var win = Vector256.GreaterThan(v, b) | (Vector256.Equals(v, b) & Vector256.LessThan(i, a).AsSingle());
                b = Vector256.ConditionalSelect(win, v, b);
                a = Vector256.ConditionalSelect(win.AsInt32(), i, a);
            }
            b.Store(dRow + pw);
            a.Store(mRow + pw);
            if (pw + 8 == hi) return hi;
        }
    }

    /// <summary>p[0], p[s], …, p[7s] for s = 1 or 2 (AVX2: two loads, a shuffle and a lane permute).</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    private static unsafe Vector256<float> Strided(float* p, int s)
    {
        if (s == 1) return Vector256.Load(p);
        // Per 128-bit lane: lo0 lo2 hi0 hi2 | lo4 lo6 hi4 hi6; then the 64-bit pairs in the order 0, 2, 1, 3.
        var even = Avx.Shuffle(Vector256.Load(p), Vector256.Load(p + 8), 0b10_00_10_00);
        return Avx2.Permute4x64(even.AsDouble(), 0b11_01_10_00).AsSingle();
    }

    /// <summary>One MAX output cell: the first cell starts the search; a later one wins only when
    /// strictly larger (Caffe's order and tie rule), chosen without branches, as maxima of random
    /// data are unpredictable.</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    private unsafe void MaxCell(float* s, float* d, int* m, int ph, int pw, int hStart, int hEnd)
    {
        int width = _width;
        int wStart = pw * _geo.StrideW - _geo.PadW;
        int wEnd = Math.Min(wStart + _geo.KernelW, width);
        wStart = Math.Max(wStart, 0);
        int arg = hStart * width + wStart;
        float best = s[arg];
        for (int h = hStart; h < hEnd; h++)
        {
            int rowStart = h * width;
            for (int w = wStart; w < wEnd; w++)
            {
                int idx = rowStart + w;
                float v = s[idx];
                bool larger = v > best;
                best = larger ? v : best;
                arg = larger ? idx : arg;
            }
        }
        d[ph * _outW + pw] = best;
        m[ph * _outW + pw] = arg;
    }

    /// <summary>
    /// The input cells of AVE output (ph, pw), clipped to the input, and Caffe's divisor: the window
    /// clipped to the padded input, so padding counts but nothing beyond it.
    /// </summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    private (int hStart, int hEnd, int wStart, int wEnd, int poolSize) AveWindow(int ph, int pw)
    {
        int hStart = ph * _geo.StrideH - _geo.PadH;
        int hEnd = Math.Min(hStart + _geo.KernelH, _height + _geo.PadH);
        int wStart = pw * _geo.StrideW - _geo.PadW;
        int wEnd = Math.Min(wStart + _geo.KernelW, _width + _geo.PadW);
        int poolSize = (hEnd - hStart) * (wEnd - wStart);
        return (Math.Max(hStart, 0), Math.Min(hEnd, _height), Math.Max(wStart, 0), Math.Min(wEnd, _width), poolSize);
    }

    /// <summary>AVE over one plane: per output row, the sums of each input column over the window's
    /// rows (vectors), then of those over each window's columns, over Caffe's divisor.</summary>
    private unsafe void AvePlane(ReadOnlySpan<float> src, Span<float> dst)
    {
        int height = _height, width = _width, outW = _outW;
        if (src.Length < height * width || dst.Length < _outH * outW)
            throw new ArgumentException("plane buffers are too short");
        int kernelW = _geo.KernelW, strideW = _geo.StrideW, padW = _geo.PadW;
        var (lo, hi) = InteriorWindows(outW, kernelW, strideW, padW, width);
        bool vector = Vector256.IsHardwareAccelerated && hi - lo >= 8 && (strideW == 1 || (strideW == 2 && Avx2.IsSupported));
        if (!vector || width > 2048)
        {
            // Narrow rows (no whole vector of windows) and very wide ones: window by window.
            for (int ph = 0; ph < _outH; ph++)
                for (int pw = 0; pw < outW; pw++)
                {
                    var (hStart, hEnd, wStart, wEnd, poolSize) = AveWindow(ph, pw);
                    float sum = 0;
                    for (int h = hStart; h < hEnd; h++)
                        for (int w = wStart; w < wEnd; w++)
                            sum += src[h * width + w];
                    dst[ph * outW + pw] = sum / poolSize;
                }
            return;
        }
        // 16 spare cells for the stride-2 reads (see MaxWindowsVector).
        float* colSum = stackalloc float[width + 16];
        fixed (float* s = src, d = dst)
        {
            for (int ph = 0; ph < _outH; ph++)
            {
                var (hStart, hEnd, _, _, _) = AveWindow(ph, 0);
                var sums = new Span<float>(colSum, width);
                new ReadOnlySpan<float>(s + hStart * width, width).CopyTo(sums);
                for (int h = hStart + 1; h < hEnd; h++)
                    System.Numerics.Tensors.TensorPrimitives.Add(sums, new ReadOnlySpan<float>(s + h * width, width), sums);
                float* dRow = d + ph * outW;
                // Interior windows are whole along the row: one divisor for all of them. The last
                // group of 8 ends at hi, computing a few outputs again.
                var divisor = Vector256.Create((float)AveWindow(ph, lo).poolSize);
                for (int pw = lo; ; pw += 8)
                {
                    pw = Math.Min(pw, hi - 8);
                    float* cp = colSum + (pw * strideW - padW);
                    var sum = Strided(cp, strideW);
                    for (int j = 1; j < kernelW; j++) sum += Strided(cp + j, strideW);
                    (sum / divisor).Store(dRow + pw);
                    if (pw + 8 == hi) break;
                }
                AveWindows(colSum, dRow, ph, 0, lo);
                AveWindows(colSum, dRow, ph, hi, outW);
            }
        }
    }

    /// <summary>AVE outputs [from, to) of row <paramref name="ph"/> from the column sums.</summary>
    private unsafe void AveWindows(float* colSum, float* dRow, int ph, int from, int to)
    {
        for (int pw = from; pw < to; pw++)
        {
            var (_, _, wStart, wEnd, poolSize) = AveWindow(ph, pw);
            float sum = 0;
            for (int w = wStart; w < wEnd; w++) sum += colSum[w];
            dRow[pw] = sum / poolSize;
        }
    }
}
