using Engine.Backends;
using Engine.Core;

namespace Engine.Layers;

/// <summary>BaseConvolutionLayer's device code: the same pieces through <see cref="IBackend"/>.</summary>
public abstract partial class BaseConvolutionLayer
{
    // ---- device ------------------------------------------------------------------------------
    // The same pieces through IBackend, one image at a time: im2col/col2im into the calling
    // thread's shared column buffer (DeviceScratch) and one GEMM per image and group; the bias
    // with two GEMMs against a vector of ones for the whole batch. The N-D path stays on the host.

    /// <summary>2-D convolutions (and deconvolutions) run on a device; N-D ones (spatial axes ≠ 2, force_nd_im2col) on the host.</summary>
    public override bool RunsOnDevice => !_nd;

    /// <summary>The 2-D window over one image of the convolution's image side.</summary>
    private ConvWindow Window => new(Channels: _convIn, Height: _imgH, Width: _imgW, KernelH: Geo.KernelH, KernelW: Geo.KernelW,
        PadH: Geo.PadH, PadW: Geo.PadW, StrideH: Geo.StrideH, StrideW: Geo.StrideW, DilationH: Geo.DilationH, DilationW: Geo.DilationW);

    /// <summary>Images per device call: as many as keep the columns and partial weight gradients under 64 MiB (at least one).</summary>
    private int DeviceChunk => (int)Math.Clamp((16L << 20) / Math.Max(1L, (long)(_is1x1 ? 0 : _colSize) + WeightCount), 1, Math.Max(_num, 1));

    private int WeightCount => _group * _outPerGroup * _kernelDim;

    /// <summary>Floats of scratch a call needs: a chunk's columns (none for 1×1) and partial weight gradients, or one image of the top side for the bias.</summary>
    private int DeviceScratchCount => Math.Max(DeviceChunk * ((_is1x1 ? 0 : _colSize) + WeightCount), _biasTerm ? _topSize : 0);

    // Sizes of one image on the image side (conv's bottom, deconv's top) and the column side.
    private int ImageSideSize => Reverse ? _topSize : _bottomSize;
    private int OutputSideSize => Reverse ? _bottomSize : _topSize;

    /// <summary>The columns of <paramref name="batch"/> images (im2col into the scratch; a 1×1 convolution reads the images themselves).</summary>
    private (BufferView columns, int stride) ColumnsOn(IBackend backend, int batch, BufferView images, BufferView scratch)
    {
        if (_is1x1) return (images, ImageSideSize);
        var columns = scratch.Slice(0, batch * _colSize);
        backend.Im2ColBatched(Window, batch, images, ImageSideSize, columns, _colSize);
        return (columns, _colSize);
    }

    /// <summary>Column side = W · im2col(image) for <paramref name="batch"/> images, one batched GEMM per group; overwrites <paramref name="outputs"/>.</summary>
    private void GemmForwardOn(IBackend backend, int batch, BufferView weights, BufferView images, BufferView outputs, BufferView scratch)
    {
        var (col, colStride) = ColumnsOn(backend, batch, images, scratch);
        int wGroup = _outPerGroup * _kernelDim, cGroup = _kernelDim * _colSpatial, oGroup = _outPerGroup * _colSpatial;
        for (int g = 0; g < _group; g++)
            backend.GemmBatched(batch, false, false, _outPerGroup, _colSpatial, _kernelDim, 1f,
                weights.Slice(g * wGroup, wGroup), _kernelDim, 0,
                col.Slice(g * cGroup, col.Count - g * cGroup), _colSpatial, colStride,
                0f, outputs.Slice(g * oGroup, outputs.Count - g * oGroup), _colSpatial, OutputSideSize);
    }

    /// <summary>Image = col2im(Wᵀ · column side) for <paramref name="batch"/> images; overwrites <paramref name="images"/>.</summary>
    private void GemmBackwardOn(IBackend backend, int batch, BufferView weights, BufferView outputs, BufferView images, BufferView scratch)
    {
        int wGroup = _outPerGroup * _kernelDim, cGroup = _kernelDim * _colSpatial, oGroup = _outPerGroup * _colSpatial;
        var (target, stride) = _is1x1 ? (images, ImageSideSize) : (scratch.Slice(0, batch * _colSize), _colSize);
        for (int g = 0; g < _group; g++)
            backend.GemmBatched(batch, true, false, _kernelDim, _colSpatial, _outPerGroup, 1f,
                weights.Slice(g * wGroup, wGroup), _kernelDim, 0,
                outputs.Slice(g * oGroup, outputs.Count - g * oGroup), _colSpatial, OutputSideSize,
                0f, target.Slice(g * cGroup, target.Count - g * cGroup), _colSpatial, stride);
        if (!_is1x1) backend.Col2ImBatched(Window, batch, target, _colSize, images, ImageSideSize);
    }

    /// <summary>weightDiff += Σ over <paramref name="batch"/> images of column side · im2col(image)ᵀ: per-image products into the scratch, then added in image order.</summary>
    private void GemmWeightOn(IBackend backend, int batch, BufferView images, BufferView outputs, BufferView weightDiff, BufferView scratch)
    {
        var (col, colStride) = ColumnsOn(backend, batch, images, scratch);
        int weights = WeightCount;
        var partials = scratch.Slice(_is1x1 ? 0 : batch * _colSize, batch * weights);
        int wGroup = _outPerGroup * _kernelDim, cGroup = _kernelDim * _colSpatial, oGroup = _outPerGroup * _colSpatial;
        for (int g = 0; g < _group; g++)
            backend.GemmBatched(batch, false, true, _outPerGroup, _kernelDim, _colSpatial, 1f,
                outputs.Slice(g * oGroup, outputs.Count - g * oGroup), _colSpatial, OutputSideSize,
                col.Slice(g * cGroup, col.Count - g * cGroup), _colSpatial, colStride,
                0f, partials.Slice(g * wGroup, partials.Count - g * wGroup), _kernelDim, weights);
        backend.AddSlices(batch, weights, partials, weightDiff);
    }

    public override void ForwardOn(IBackend backend, IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        if (_num == 0) return;
        var shared = DeviceScratch.For(backend);
        var scratch = shared.Scratch(DeviceScratchCount);
        var weights = Blobs[0].DataOn(backend);
        for (int i = 0; i < bottom.Count; i++)
        {
            var input = bottom[i].DataOn(backend);
            var output = top[i].MutableDataOn(backend);
            for (int n = 0; n < _num; n += DeviceChunk)
            {
                int batch = Math.Min(DeviceChunk, _num - n);
                var x = input.Slice(n * _bottomSize, batch * _bottomSize);
                var y = output.Slice(n * _topSize, batch * _topSize);
                if (Reverse) GemmBackwardOn(backend, batch, weights, x, y, scratch);
                else GemmForwardOn(backend, batch, weights, x, y, scratch);
            }
        }
        if (_biasTerm)
        {
            // One image's bias plane (numOutput × spatial) = bias · 1ᵀ, then for every top
            // (num × topSize) += 1 (num × 1) · plane (1 × topSize): one GEMM per top, not one per image.
            var ones = shared.Ones(Math.Max(_num, _topSpatial));
            var plane = scratch.Slice(0, _topSize);
            backend.Gemm(false, false, _numOutput, _topSpatial, 1, 1f, Blobs[1].DataOn(backend), 1,
                ones.Slice(0, _topSpatial), _topSpatial, 0f, plane, _topSpatial);
            for (int i = 0; i < top.Count; i++)
                backend.Gemm(false, false, _num, _topSize, 1, 1f, ones.Slice(0, _num), 1, plane, _topSize,
                    1f, top[i].MutableDataOn(backend), _topSize);
        }
    }

    public override void BackwardOn(IBackend backend, IReadOnlyList<Blob> top, IReadOnlyList<bool> propagateDown, IReadOnlyList<Blob> bottom)
    {
        bool needWeight = ParamPropagateDown.Length > 0 && ParamPropagateDown[0];
        bool needBias = _biasTerm && ParamPropagateDown.Length > 1 && ParamPropagateDown[1];
        bool anyBottom = false;
        for (int i = 0; i < propagateDown.Count; i++) anyBottom |= propagateDown[i];
        if (_num == 0 || (!needWeight && !needBias && !anyBottom)) return;
        var shared = DeviceScratch.For(backend);
        var scratch = shared.Scratch(DeviceScratchCount);

        if (needBias)
        {
            // Σ over images of every top's gradient (1 × topSize) = 1ᵀ · topDiff, then
            // biasDiff += that (numOutput × spatial) · 1 (spatial × 1).
            var ones = shared.Ones(Math.Max(_num, _topSpatial));
            var sum = scratch.Slice(0, _topSize);
            for (int i = 0; i < top.Count; i++)
                backend.Gemm(false, false, 1, _topSize, _num, 1f, ones.Slice(0, _num), _num, top[i].DiffOn(backend), _topSize,
                    i == 0 ? 0f : 1f, sum, _topSize);
            backend.Gemm(false, false, _numOutput, 1, _topSpatial, 1f, sum, _topSpatial, ones.Slice(0, _topSpatial), 1,
                1f, Blobs[1].MutableDiffOn(backend), 1);
        }
        if (!needWeight && !anyBottom) return;

        var weights = Blobs[0].DataOn(backend);
        var weightDiff = needWeight ? Blobs[0].MutableDiffOn(backend) : default;
        for (int i = 0; i < bottom.Count; i++)
        {
            if (!needWeight && !propagateDown[i]) continue;
            var topDiff = top[i].DiffOn(backend);
            var bottomData = needWeight ? bottom[i].DataOn(backend) : default;
            var bottomDiff = propagateDown[i] ? bottom[i].MutableDiffOn(backend) : default;
            for (int n = 0; n < _num; n += DeviceChunk)
            {
                int batch = Math.Min(DeviceChunk, _num - n);
                var dy = topDiff.Slice(n * _topSize, batch * _topSize);
                if (needWeight)
                {
                    var x = bottomData.Slice(n * _bottomSize, batch * _bottomSize);
                    if (Reverse) GemmWeightOn(backend, batch, dy, x, weightDiff, scratch);
                    else GemmWeightOn(backend, batch, x, dy, weightDiff, scratch);
                }
                if (propagateDown[i])
                {
                    var dx = bottomDiff.Slice(n * _bottomSize, batch * _bottomSize);
                    if (Reverse) GemmForwardOn(backend, batch, weights, dy, dx, scratch);
                    else GemmBackwardOn(backend, batch, weights, dy, dx, scratch);
                }
            }
        }
    }
}
