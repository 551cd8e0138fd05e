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
public sealed partial class PoolingLayer : Layer
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
}
