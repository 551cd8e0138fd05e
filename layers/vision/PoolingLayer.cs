using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Engine.Backends;
using Engine.Core;
using Engine.Cpu;
using Engine.Proto;
using PoolMethod = Engine.Proto.PoolingParameter.Types.PoolMethod;
using RoundMode = Engine.Proto.PoolingParameter.Types.RoundMode;

namespace Engine.Layers;

/// <summary>
/// 2-D max or average pooling (Caffe's "Pooling") over N×C×H×W. Output size:
/// ceil((in + 2p − k) / s) + 1 (floor with round_mode FLOOR), less one when padding would make the
/// last window start at or past in + p. Average pooling divides by the window clipped to
/// [−p, in + p), so padding counts but not past the padded edge. Max pooling may give a second
/// top: the flat index h·W + w of each maximum, as float. STOCHASTIC pooling (for non-negative
/// inputs) picks, in TRAIN, one value of each window with probability value / window sum, drawn
/// from the layer's <see cref="Layer.Rng"/>, and sends the gradient back to it; in TEST it gives
/// the probability-weighted average Σx² / Σx (0 for an all-zero window).
/// </summary>
/// <remarks>
/// An extension: MAX and AVE pooling over any number (≥ 1) of spatial axes after N×C, with the
/// window from kernel_nd/stride_nd/pad_nd (or Marvin's window/padding; one value for all axes or
/// one per axis), or the scalar kernel_size/stride/pad for every axis; the same output-size and
/// divisor rules per axis. average_exclude_padding (AVE) divides by the input cells in the window
/// only. Inputs other than 2-D, and exclusion, take the N-D path; the mask top holds the flat
/// index within the spatial volume.
/// </remarks>
[LayerType("Pooling")]
public sealed class PoolingLayer : Layer
{
    /// <summary>Below this many window reads a pass runs on one thread.</summary>
    private const long ParallelWork = 1 << 15;

    private ConvGeometry _geo;
    private PoolMethod _method;
    private bool _global;
    private RoundMode _round;
    private int _num, _channels, _height, _width, _outH, _outW;
    private int[] _mask = [];

    // The N-D path: spatial axes ≠ 2, or average_exclude_padding.
    private bool _nd, _excludePad;
    private NdGeometry _ndGeo = null!;
    private int[] _ndIn = [], _ndOut = [], _ndKernel = [];
    private int _inPlane, _outPlane;

    public PoolingLayer(LayerParameter param) : base(param) { }

    public override int ExactBottoms => 1;
    public override int MinTops => 1;
    /// <summary>STOCHASTIC pooling in TEST (a weighted average) has no gradient.</summary>
    public override bool CanBackward(int bottomIndex) =>
        !(Param.PoolingParam is { } p && p.Pool == PoolMethod.Stochastic && Phase != Phase.Train);

    public override int MaxTops => Param.PoolingParam is { } p && p.Pool == PoolMethod.Max ? 2 : 1;

    public override void LayerSetUp(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        var p = Param.PoolingParam ?? throw Error("pooling_param with a kernel size (or global_pooling) is required");
        _method = p.Pool;
        if (_method != PoolMethod.Max && _method != PoolMethod.Ave && _method != PoolMethod.Stochastic)
            throw Error($"unknown pooling method {(int)_method}");
        _global = p.GlobalPooling;
        _round = p.RoundMode;
        int axes = bottom[0].NumAxes - 2;
        if (axes < 1)
            throw Error($"bottom \"{bottom[0].Name}\" is {bottom[0].NumAxes}-D {bottom[0].ShapeString}; pooling takes 4-D N×C×H×W blobs, or N×C and at least one spatial axis");
        _excludePad = p.AverageExcludePadding;
        if (_excludePad && _method != PoolMethod.Ave)
            throw Error("average_exclude_padding applies to pool: AVE only");
        _nd = axes != 2 || _excludePad;
        if (_nd || NdGeometry.PoolingUsesNdFields(p))
        {
            _ndGeo = NdGeometry.FromPooling(p, axes, Error);
            if (_global && (_ndGeo.Pad.Any(v => v != 0) || _ndGeo.Stride.Any(v => v != 1)))
                throw Error($"global_pooling takes pad 0 and stride 1, got pad {NdGeometry.Join(_ndGeo.Pad)}, stride {NdGeometry.Join(_ndGeo.Stride)}");
            if (!_global && _ndGeo.Pad.Where((v, d) => v >= _ndGeo.Kernel[d]).Any())
                throw Error($"pad ({NdGeometry.Join(_ndGeo.Pad)}) must be smaller than the kernel ({NdGeometry.Join(_ndGeo.Kernel)})");
            if (_nd)
            {
                if (_method == PoolMethod.Stochastic) throw Error("STOCHASTIC pooling is 2-D only (4-D N×C×H×W, without average_exclude_padding)");
                return;
            }
            _geo = new ConvGeometry(_ndGeo.Kernel[0], _ndGeo.Kernel[1], _ndGeo.Stride[0], _ndGeo.Stride[1], _ndGeo.Pad[0], _ndGeo.Pad[1], 1, 1);
        }
        else
        {
            _geo = ConvGeometry.FromPooling(p, Error);
        }
        if (_global && (_geo.PadH != 0 || _geo.PadW != 0 || _geo.StrideH != 1 || _geo.StrideW != 1))
            throw Error($"global_pooling takes pad 0 and stride 1, got pad {_geo.PadH}×{_geo.PadW}, stride {_geo.StrideH}×{_geo.StrideW}");
        if (!_global && (_geo.PadH >= _geo.KernelH || _geo.PadW >= _geo.KernelW))
            throw Error($"pad ({_geo.PadH}×{_geo.PadW}) must be smaller than the kernel ({_geo.KernelH}×{_geo.KernelW})");
    }

    public override void Reshape(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        var b = bottom[0];
        if (_nd)
        {
            ReshapeNd(b, top);
            return;
        }
        if (b.NumAxes != 4)
            throw Error($"bottom \"{b.Name}\" is {b.NumAxes}-D {b.ShapeString}; pooling takes 4-D N×C×H×W blobs");
        _num = b.Dim(0);
        _channels = b.Dim(1);
        _height = b.Dim(2);
        _width = b.Dim(3);
        if (_global) _geo = _geo with { KernelH = _height, KernelW = _width };
        _outH = PooledSize(_height, _geo.KernelH, _geo.StrideH, _geo.PadH, "height");
        _outW = PooledSize(_width, _geo.KernelW, _geo.StrideW, _geo.PadW, "width");
        foreach (var t in top) t.Reshape(_num, _channels, _outH, _outW);
        long count = (long)_num * _channels * _outH * _outW;
        if (_method != PoolMethod.Ave && _mask.Length < count) _mask = new int[count];
    }

    private void ReshapeNd(Blob b, IReadOnlyList<Blob> top)
    {
        int axes = _ndGeo.Axes;
        if (b.NumAxes != axes + 2)
            throw Error($"bottom \"{b.Name}\" is {b.ShapeString}, but the layer was set up for {axes} spatial axes");
        _num = b.Dim(0);
        _channels = b.Dim(1);
        _ndIn = new int[axes];
        _ndOut = new int[axes];
        _ndKernel = new int[axes];
        for (int d = 0; d < axes; d++)
        {
            _ndIn[d] = b.Dim(d + 2);
            _ndKernel[d] = _global ? _ndIn[d] : _ndGeo.Kernel[d];
            _ndOut[d] = PooledSize(_ndIn[d], _ndKernel[d], _ndGeo.Stride[d], _ndGeo.Pad[d], $"axis {d + 2}");
        }
        _inPlane = checked(_ndIn.Aggregate(1, (a, v) => a * v));
        _outPlane = checked(_ndOut.Aggregate(1, (a, v) => a * v));
        var shape = new int[axes + 2];
        shape[0] = _num;
        shape[1] = _channels;
        _ndOut.CopyTo(shape, 2);
        foreach (var t in top) t.Reshape(shape);
        long count = (long)_num * _channels * _outPlane;
        if (_method != PoolMethod.Ave && _mask.Length < count) _mask = new int[count];
    }

    private int PooledSize(int input, int kernel, int stride, int pad, string axis)
    {
        int span = input + 2 * pad - kernel;
        if (span < 0)
            throw Error($"kernel {kernel} is larger than the padded input {axis} {input} + 2·{pad}");
        int size = (_round == RoundMode.Floor ? span / stride : (span + stride - 1) / stride) + 1;
        // The last window must start inside the image or its left padding.
        if (pad > 0 && (size - 1) * stride >= input + pad) size--;
        return size;
    }

    private bool Parallel(out int blocks)
    {
        int planes = _num * _channels;
        long work = (long)planes * _outH * _outW * _geo.KernelH * _geo.KernelW;
        blocks = Math.Min(planes, WorkerPool.Threads);
        return blocks > 1 && work >= ParallelWork;
    }

    // ---- forward -------------------------------------------------------------------------

    public override void Forward(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        int planes = _num * _channels;
        if (planes == 0) return;
        var maskTop = top.Count > 1 ? top[1] : null;
        if (_nd)
        {
            if (ParallelNd(out int ndBlocks))
                WorkerPool.For(ndBlocks, (Layer: this, Bottom: bottom[0], Top: top[0], Mask: maskTop, ndBlocks, planes), static (b, st) =>
                    st.Layer.NdPlanes((int)((long)st.planes * b / st.ndBlocks), (int)((long)st.planes * (b + 1) / st.ndBlocks), st.Bottom, st.Top, st.Mask, backward: false));
            else
                NdPlanes(0, planes, bottom[0], top[0], maskTop, backward: false);
            return;
        }
        if (_method == PoolMethod.Stochastic)
        {
            // One generator, planes in order: the samples do not depend on the thread count.
            ForwardStochastic(bottom[0], top[0]);
            return;
        }
        if (Parallel(out int blocks))
            WorkerPool.For(blocks, (Layer: this, Bottom: bottom[0], Top: top[0], Mask: maskTop, blocks, planes), static (b, st) =>
                st.Layer.ForwardPlanes((int)((long)st.planes * b / st.blocks), (int)((long)st.planes * (b + 1) / st.blocks), st.Bottom, st.Top, st.Mask));
        else
            ForwardPlanes(0, planes, bottom[0], top[0], maskTop);
    }

    private void ForwardPlanes(int first, int end, Blob bottom, Blob top, Blob? maskTop)
    {
        int inPlane = _height * _width, outPlane = _outH * _outW;
        for (int pl = first; pl < end; pl++)
        {
            ReadOnlySpan<float> src = bottom.Data.Slice(pl * inPlane, inPlane);
            var dst = top.Data.Slice(pl * outPlane, outPlane);
            if (_method == PoolMethod.Max)
            {
                var mask = _mask.AsSpan(pl * outPlane, outPlane);
                MaxPlane(src, dst, mask);
                if (maskTop != null)
                {
                    var m = maskTop.Data.Slice(pl * outPlane, outPlane);
                    for (int i = 0; i < outPlane; i++) m[i] = mask[i];
                }
            }
            else
            {
                AvePlane(src, dst);
            }
        }
    }

    private void ForwardStochastic(Blob bottom, Blob top)
    {
        int inPlane = _height * _width, outPlane = _outH * _outW;
        bool train = Phase == Phase.Train;
        for (int pl = 0; pl < _num * _channels; pl++)
        {
            ReadOnlySpan<float> src = bottom.Data.Slice(pl * inPlane, inPlane);
            var dst = top.Data.Slice(pl * outPlane, outPlane);
            var mask = _mask.AsSpan(pl * outPlane, outPlane);
            for (int ph = 0; ph < _outH; ph++)
            {
                int hStart = ph * _geo.StrideH - _geo.PadH;
                int hEnd = Math.Min(hStart + _geo.KernelH, _height);
                hStart = Math.Max(hStart, 0);
                for (int pw = 0; pw < _outW; pw++)
                {
                    int wStart = pw * _geo.StrideW - _geo.PadW;
                    int wEnd = Math.Min(wStart + _geo.KernelW, _width);
                    wStart = Math.Max(wStart, 0);
                    double sum = 0, sumSq = 0;
                    for (int h = hStart; h < hEnd; h++)
                        for (int w = wStart; w < wEnd; w++)
                        {
                            float v = src[h * _width + w];
                            sum += v;
                            sumSq += (double)v * v;
                        }
                    int o = ph * _outW + pw;
                    if (!train)
                    {
                        dst[o] = sum > 0 ? (float)(sumSq / sum) : 0f;
                        continue;
                    }
                    // As Caffe: the first value where the cumulative sum reaches r·sum.
                    double r = Rng.NextDouble() * sum, acc = 0;
                    int arg = -1;
                    for (int h = hStart; h < hEnd && arg < 0; h++)
                        for (int w = wStart; w < wEnd; w++)
                        {
                            int idx = h * _width + w;
                            acc += src[idx];
                            if (acc >= r)
                            {
                                arg = idx;
                                break;
                            }
                        }
                    if (arg < 0) arg = (hEnd - 1) * _width + wEnd - 1;
                    mask[o] = arg;
                    dst[o] = src[arg];
                }
            }
        }
    }

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

    // ---- backward ------------------------------------------------------------------------

    public override void Backward(IReadOnlyList<Blob> top, IReadOnlyList<bool> propagateDown, IReadOnlyList<Blob> bottom)
    {
        if (!propagateDown[0]) return;
        int planes = _num * _channels;
        if (planes == 0) return;
        if (_method == PoolMethod.Stochastic && Phase != Phase.Train)
            throw Error("STOCHASTIC pooling has no gradient in TEST (the weighted average is not back-propagated)");
        if (_nd)
        {
            if (ParallelNd(out int ndBlocks))
                WorkerPool.For(ndBlocks, (Layer: this, Top: top[0], Bottom: bottom[0], ndBlocks, planes), static (b, st) =>
                    st.Layer.NdPlanes((int)((long)st.planes * b / st.ndBlocks), (int)((long)st.planes * (b + 1) / st.ndBlocks), st.Bottom, st.Top, null, backward: true));
            else
                NdPlanes(0, planes, bottom[0], top[0], null, backward: true);
            return;
        }
        if (Parallel(out int blocks))
            WorkerPool.For(blocks, (Layer: this, Top: top[0], Bottom: bottom[0], blocks, planes), static (b, st) =>
                st.Layer.BackwardPlanes((int)((long)st.planes * b / st.blocks), (int)((long)st.planes * (b + 1) / st.blocks), st.Top, st.Bottom));
        else
            BackwardPlanes(0, planes, top[0], bottom[0]);
    }

    private void BackwardPlanes(int first, int end, Blob top, Blob bottom)
    {
        int inPlane = _height * _width, outPlane = _outH * _outW;
        float[]? rented = _method == PoolMethod.Ave && _width > 2048 ? System.Buffers.ArrayPool<float>.Shared.Rent(_width) : null;
        Span<float> rowGrad = _method != PoolMethod.Ave ? default : rented != null ? rented.AsSpan(0, _width) : stackalloc float[_width];
        try
        {
            BackwardPlanes(first, end, top, bottom, inPlane, outPlane, rowGrad);
        }
        finally
        {
            if (rented != null) System.Buffers.ArrayPool<float>.Shared.Return(rented);
        }
    }

    private void BackwardPlanes(int first, int end, Blob top, Blob bottom, int inPlane, int outPlane, Span<float> rowGrad)
    {
        for (int pl = first; pl < end; pl++)
        {
            ReadOnlySpan<float> topDiff = top.Diff.Slice(pl * outPlane, outPlane);
            var diff = bottom.Diff.Slice(pl * inPlane, inPlane);
            diff.Clear();
            if (_method != PoolMethod.Ave)
            {
                ReadOnlySpan<int> mask = _mask.AsSpan(pl * outPlane, outPlane);
                for (int i = 0; i < outPlane; i++)
                    if (mask[i] >= 0) diff[mask[i]] += topDiff[i];
                continue;
            }
            // Per output row: what its windows send to each input column, then added to the window's rows.
            for (int ph = 0; ph < _outH; ph++)
            {
                rowGrad.Clear();
                var (hStart, hEnd, _, _, _) = AveWindow(ph, 0);
                for (int pw = 0; pw < _outW; pw++)
                {
                    var (_, _, wStart, wEnd, poolSize) = AveWindow(ph, pw);
                    float g = topDiff[ph * _outW + pw] / poolSize;
                    for (int w = wStart; w < wEnd; w++) rowGrad[w] += g;
                }
                for (int h = hStart; h < hEnd; h++)
                {
                    var row = diff.Slice(h * _width, _width);
                    System.Numerics.Tensors.TensorPrimitives.Add(row, rowGrad, row);
                }
            }
        }
    }

    // ---- device ----------------------------------------------------------------------------

    // The max positions on the device (flat indices as floats), kept for backward.
    private readonly DeviceBuffer _deviceMask = new();

    /// <summary>MAX and AVE pooling of 4-D blobs run on a device; STOCHASTIC pooling (host random
    /// draws per window) and the N-D path (other than 2 spatial axes, average_exclude_padding)
    /// stay on the host.</summary>
    public override bool RunsOnDevice => !_nd && _method != PoolMethod.Stochastic;

    private PoolWindow DeviceWindow => new(_height, _width, _outH, _outW, _geo.KernelH, _geo.KernelW,
        _geo.StrideH, _geo.StrideW, _geo.PadH, _geo.PadW);

    public override void ForwardOn(IBackend backend, IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        int planes = _num * _channels;
        if (planes == 0) return;
        var x = bottom[0].DataOn(backend);
        var y = top[0].MutableDataOn(backend);
        if (_method == PoolMethod.Ave)
        {
            backend.PoolForward(PoolKind.Average, DeviceWindow, planes, x, y);
            return;
        }
        var mask = _deviceMask.On(backend, (int)top[0].Count);
        backend.PoolForward(PoolKind.Max, DeviceWindow, planes, x, y, mask);
        if (top.Count > 1) backend.Copy(mask, top[1].MutableDataOn(backend));
    }

    public override void BackwardOn(IBackend backend, IReadOnlyList<Blob> top, IReadOnlyList<bool> propagateDown, IReadOnlyList<Blob> bottom)
    {
        if (!propagateDown[0]) return;
        int planes = _num * _channels;
        if (planes == 0) return;
        bool max = _method == PoolMethod.Max;
        backend.PoolBackward(max ? PoolKind.Max : PoolKind.Average, DeviceWindow, planes, top[0].DiffOn(backend),
            max ? _deviceMask.On(backend, (int)top[0].Count) : (BufferView?)null, bottom[0].MutableDiffOn(backend));
    }

    // ---- N-D -------------------------------------------------------------------------------

    private bool ParallelNd(out int blocks)
    {
        int planes = _num * _channels;
        long work = (long)planes * _outPlane * _ndKernel.Aggregate(1L, (a, k) => a * k);
        blocks = Math.Min(planes, WorkerPool.Threads);
        return blocks > 1 && work >= ParallelWork;
    }

    /// <summary>
    /// Planes [first, end) of the N-D path. Forward: MAX (with the mask) or AVE into the top.
    /// Backward: the bottom gradient from the top gradient (MAX through the mask).
    /// </summary>
    private void NdPlanes(int first, int end, Blob bottom, Blob top, Blob? maskTop, bool backward)
    {
        int axes = _ndIn.Length;
        Span<int> outIdx = stackalloc int[axes];
        Span<int> lo = stackalloc int[axes];
        Span<int> hi = stackalloc int[axes];
        Span<int> cell = stackalloc int[axes];
        bool max = _method == PoolMethod.Max;
        for (int pl = first; pl < end; pl++)
        {
            var mask = max ? _mask.AsSpan(pl * _outPlane, _outPlane) : default;
            if (backward)
            {
                ReadOnlySpan<float> topDiff = top.Diff.Slice(pl * _outPlane, _outPlane);
                var diff = bottom.Diff.Slice(pl * _inPlane, _inPlane);
                diff.Clear();
                if (max)
                {
                    for (int i = 0; i < _outPlane; i++)
                        if (mask[i] >= 0) diff[mask[i]] += topDiff[i];
                    continue;
                }
                outIdx.Clear();
                for (int o = 0; o < _outPlane; o++)
                {
                    int size = Window(outIdx, lo, hi);
                    if (size > 0)
                    {
                        float g = topDiff[o] / size;
                        lo.CopyTo(cell);
                        do diff[Flat(cell)] += g;
                        while (Next(cell, lo, hi));
                    }
                    Next(outIdx, default, _ndOut);
                }
                continue;
            }

            ReadOnlySpan<float> src = bottom.Data.Slice(pl * _inPlane, _inPlane);
            var dst = top.Data.Slice(pl * _outPlane, _outPlane);
            outIdx.Clear();
            for (int o = 0; o < _outPlane; o++)
            {
                int size = Window(outIdx, lo, hi);
                bool empty = false;
                for (int d = 0; d < axes; d++) empty |= lo[d] >= hi[d];
                if (max)
                {
                    float best = float.MinValue;
                    int arg = -1;
                    if (!empty)
                    {
                        lo.CopyTo(cell);
                        do
                        {
                            int idx = Flat(cell);
                            if (src[idx] > best || arg < 0)
                            {
                                best = src[idx];
                                arg = idx;
                            }
                        }
                        while (Next(cell, lo, hi));
                    }
                    dst[o] = best;
                    mask[o] = arg;
                }
                else
                {
                    float sum = 0;
                    if (!empty)
                    {
                        lo.CopyTo(cell);
                        do sum += src[Flat(cell)];
                        while (Next(cell, lo, hi));
                    }
                    dst[o] = size > 0 ? sum / size : 0f;
                }
                Next(outIdx, default, _ndOut);
            }
            if (max && maskTop != null)
            {
                var m = maskTop.Data.Slice(pl * _outPlane, _outPlane);
                for (int i = 0; i < _outPlane; i++) m[i] = mask[i];
            }
        }
    }

    /// <summary>
    /// The window of output position <paramref name="outIdx"/>, clipped to the input, as [lo, hi)
    /// per axis; returns the AVE divisor: the window clipped to [−pad, in + pad) (Caffe), or the
    /// input cells only with average_exclude_padding.
    /// </summary>
    private int Window(ReadOnlySpan<int> outIdx, Span<int> lo, Span<int> hi)
    {
        int size = 1;
        for (int d = 0; d < outIdx.Length; d++)
        {
            int start = outIdx[d] * _ndGeo.Stride[d] - _ndGeo.Pad[d];
            int stop = Math.Min(start + _ndKernel[d], _ndIn[d] + _ndGeo.Pad[d]);
            lo[d] = Math.Max(start, 0);
            hi[d] = Math.Min(stop, _ndIn[d]);
            size *= _excludePad ? Math.Max(0, hi[d] - lo[d]) : stop - start;
        }
        return size;
    }

    private int Flat(ReadOnlySpan<int> cell)
    {
        int flat = 0;
        for (int d = 0; d < cell.Length; d++) flat = flat * _ndIn[d] + cell[d];
        return flat;
    }

    /// <summary>Steps <paramref name="idx"/> through the box [lo, hi) (lo empty: all zeros), last axis fastest; false after the last.</summary>
    private static bool Next(Span<int> idx, ReadOnlySpan<int> lo, ReadOnlySpan<int> hi)
    {
        for (int d = idx.Length - 1; d >= 0; d--)
        {
            if (++idx[d] < hi[d]) return true;
            idx[d] = lo.IsEmpty ? 0 : lo[d];
        }
        return false;
    }
}
