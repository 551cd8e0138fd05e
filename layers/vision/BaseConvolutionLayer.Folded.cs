using System.Numerics.Tensors;
using Engine.Core;
using Engine.Cpu;

namespace Engine.Layers;

/// <summary>
/// BaseConvolutionLayer's products over several images at once (folds, for small outputs) and
/// the flipped weights that turn col2im into a convolution (see docs/cpu.md).
/// </summary>
public abstract partial class BaseConvolutionLayer
{
    /// <summary>
    /// Remakes the flipped weights for <see cref="GemmBackward"/>: per group,
    /// flipped[c][o][kh][kw] = W[o][c][kH−1−kh][kW−1−kw] (conv-in/group × conv-out/group·kH·kW).
    /// </summary>
    private void FlipWeights()
    {
        int count = (int)Blobs[0].Count;
        if (_flipped.Length != count) _flipped = new float[count];
        // A transpose of (o, c) blocks of k values, each reversed; by tiles of 8 × 8 (o, c) pairs
        // so that both sides are read and written a cache line at a time, rows of tiles (8 outputs
        // of a group) in parallel: they write disjoint values. 512 × 512 × 3 × 3 took ~3.5 ms on one thread.
        int tileRows = (_outPerGroup + 7) / 8;
        WorkerPool.For(_group * tileRows, (Layer: this, TileRows: tileRows), static (t, st) =>
        {
            var layer = st.Layer;
            ReadOnlySpan<float> w = layer.Blobs[0].Data;
            var flipped = layer._flipped.AsSpan(0, w.Length);
            int k = layer.Geo.KernelH * layer.Geo.KernelW, inPerGroup = layer._convIn / layer._group, opg = layer._outPerGroup;
            int g = t / st.TileRows, o0 = t % st.TileRows * 8;
            int groupBase = g * opg * inPerGroup * k;
            for (int c0 = 0; c0 < inPerGroup; c0 += 8)
                for (int o = o0; o < Math.Min(o0 + 8, opg); o++)
                    for (int c = c0; c < Math.Min(c0 + 8, inPerGroup); c++)
                    {
                        int src = groupBase + (o * inPerGroup + c) * k, dst = groupBase + (c * opg + o) * k + k - 1;
                        for (int i = 0; i < k; i++) flipped[dst - i] = w[src + i];
                    }
        });
    }

    /// <summary>Images _fold at a time: one product per group (parallel inside) into the fold buffer,
    /// whose columns are the images' outputs side by side, then copied to the top with the bias.</summary>
    private void ForwardFolded(Blob bottom, Blob top)
    {
        var window = GroupWindow;
        int imageGroup = window.ImageCount, wGroupSize = _outPerGroup * _kernelDim;
        ReadOnlySpan<float> w = Blobs[0].Data, input = bottom.Data, bias = _biasTerm ? Blobs[1].Data : default;
        var output = top.Data;
        for (int n0 = 0; n0 < _num; n0 += _fold)
        {
            int f = Math.Min(_fold, _num - n0), ld = f * _colSpatial;
            var c = _cols[0].AsSpan(0, _convOut * ld);
            for (int g = 0; g < _group; g++)
                Blas.SgemmIm2Col(_outPerGroup, 1f, w.Slice(g * wGroupSize, wGroupSize), _kernelDim,
                    input.Slice(n0 * _bottomSize + g * imageGroup, (f - 1) * _bottomSize + imageGroup), window,
                    0f, c.Slice(g * _outPerGroup * ld, _outPerGroup * ld), ld, f, _bottomSize);
            for (int i = 0; i < f; i++)
                for (int m = 0; m < _convOut; m++)
                {
                    var src = c.Slice(m * ld + i * _colSpatial, _colSpatial);
                    var dst = output.Slice((n0 + i) * _topSize + m * _topSpatial, _topSpatial);
                    if (_biasTerm) TensorPrimitives.Add(src, bias[m], dst);
                    else src.CopyTo(dst);
                }
        }
    }

    private void ForwardSlot(int slot, Blob bottom, Blob top)
    {
        var col = _cols[slot];
        for (int n = slot; n < _num; n += _slots) ForwardImage(bottom, top, n, col);
    }

    private void ForwardImage(Blob bottom, Blob top, int n, float[] colBuffer)
    {
        ReadOnlySpan<float> input = bottom.Data.Slice(n * _bottomSize, _bottomSize);
        var output = top.Data.Slice(n * _topSize, _topSize);
        if (Reverse) GemmBackward(input, output, colBuffer);
        else GemmForward(input, output, colBuffer);
        if (_biasTerm)
        {
            ReadOnlySpan<float> bias = Blobs[1].Data;
            for (int m = 0; m < _numOutput; m++)
            {
                var row = output.Slice(m * _topSpatial, _topSpatial);
                TensorPrimitives.Add(row, bias[m], row);
            }
        }
    }

    /// <summary>
    /// Bottom <paramref name="i"/>, images _fold at a time: the bias gradient; the weight gradient as
    /// one product whose k runs over the fold's images (their top gradients gathered side by side
    /// in the fold buffer); the bottom gradient, when the flipped weights give it, as one product
    /// over the fold's top gradients, copied out image by image. Parameter gradients are added fold
    /// by fold in image order, the same on any thread count (products split rows or columns, never k).
    /// </summary>
    private void BackwardFolded(BackwardJob job, int i)
    {
        ReadOnlySpan<float> topDiff = job.Top[i].Diff, bottomData = job.Bottom[i].Data;
        var buffer = _cols[0];
        var window = GroupWindow;
        int imageGroup = window.ImageCount, wGroupSize = _outPerGroup * _kernelDim;
        int inPerGroup = _convIn / _group, imagePlane = _imgH * _imgW, adjointGroup = _adjointWindow.ImageCount;
        int fRow = _outPerGroup * Geo.KernelH * Geo.KernelW, fGroup = inPerGroup * fRow;
        var weightDiff = job.NeedWeight ? Blobs[0].Diff : default;
        var biasDiff = job.NeedBias ? Blobs[1].Diff : default;
        for (int n0 = 0; n0 < _num; n0 += _fold)
        {
            int f = Math.Min(_fold, _num - n0), ld = f * _colSpatial;
            if (job.NeedBias)
                for (int n = n0; n < n0 + f; n++)
                    for (int m = 0; m < _numOutput; m++)
                        biasDiff[m] += TensorPrimitives.Sum<float>(topDiff.Slice(n * _topSize + m * _topSpatial, _topSpatial));
            bool gatheredAdjoint = _is1x1 && job.PropagateDown[i];
            var a = buffer.AsSpan(0, _convOut * ld);
            if (job.NeedWeight || gatheredAdjoint)
                for (int n = 0; n < f; n++)
                    for (int m = 0; m < _convOut; m++)
                        topDiff.Slice((n0 + n) * _topSize + m * _topSpatial, _topSpatial).CopyTo(a.Slice(m * ld + n * _colSpatial, _colSpatial));
            if (job.NeedWeight)
            {
                for (int g = 0; g < _group; g++)
                    Blas.SgemmIm2ColT(_outPerGroup, 1f, a.Slice(g * _outPerGroup * ld, _outPerGroup * ld), ld,
                        bottomData.Slice(n0 * _bottomSize + g * imageGroup, (f - 1) * _bottomSize + imageGroup), window,
                        1f, weightDiff.Slice(g * wGroupSize, wGroupSize), _kernelDim, f, _bottomSize);
            }
            if (gatheredAdjoint)
            {
                // 1×1: the bottom gradients of the fold are Wᵀ times the gathered top gradients.
                ReadOnlySpan<float> w = Blobs[0].Data;
                var c = buffer.AsSpan(_convOut * ld, _convIn * ld);
                for (int g = 0; g < _group; g++)
                    Blas.Sgemm(true, false, inPerGroup, ld, _outPerGroup, 1f, w.Slice(g * wGroupSize, wGroupSize), inPerGroup,
                        a.Slice(g * _outPerGroup * ld, _outPerGroup * ld), ld, 0f, c.Slice(g * inPerGroup * ld, inPerGroup * ld), ld);
                var bottomDiff = job.Bottom[i].Diff;
                for (int n = 0; n < f; n++)
                    for (int ch = 0; ch < _convIn; ch++)
                        c.Slice(ch * ld + n * imagePlane, imagePlane).CopyTo(bottomDiff.Slice((n0 + n) * _bottomSize + ch * imagePlane, imagePlane));
            }
            if (job.PropagateDown[i] && _flippedAdjoint)
            {
                int ldImage = f * imagePlane;
                var c = buffer.AsSpan(0, _convIn * ldImage);
                for (int g = 0; g < _group; g++)
                    Blas.SgemmIm2Col(inPerGroup, 1f, _flipped.AsSpan(g * fGroup, fGroup), fRow,
                        topDiff.Slice(n0 * _topSize + g * adjointGroup, (f - 1) * _topSize + adjointGroup), _adjointWindow,
                        0f, c.Slice(g * inPerGroup * ldImage, inPerGroup * ldImage), ldImage, f, _topSize);
                var bottomDiff = job.Bottom[i].Diff;
                for (int n = 0; n < f; n++)
                    for (int ch = 0; ch < _convIn; ch++)
                        c.Slice(ch * ldImage + n * imagePlane, imagePlane).CopyTo(bottomDiff.Slice((n0 + n) * _bottomSize + ch * imagePlane, imagePlane));
            }
        }
    }
}
