using Engine.Core;
using Engine.Cpu;
using PoolMethod = Engine.Proto.PoolingParameter.Types.PoolMethod;

namespace Engine.Layers;

/// <summary>PoolingLayer's N-D path: spatial axes other than two, or average_exclude_padding.</summary>
public sealed partial class PoolingLayer
{
    // ---- N-D -------------------------------------------------------------------------------

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
