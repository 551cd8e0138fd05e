using System.Numerics.Tensors;
using Engine.Backends;
using Engine.Core;
using Engine.Cpu;
using Engine.Proto;

namespace Engine.Layers;

/// <summary>
/// What Convolution and Deconvolution share, as in Caffe's BaseConvolutionLayer: parameters,
/// weights, per-image im2col + GEMM pieces, worker slots and deterministic gradient chunks.
/// </summary>
/// <remarks>
/// <para>
/// The pieces work in the convolution's own terms: an <em>image</em> (conv-in channels × H × W)
/// is unrolled by im2col and multiplied by the weights (conv-out × conv-in/group·kH·kW) into the
/// <em>column side</em> (conv-out channels × outH·outW). A convolution's image is its bottom and
/// its column side its top; a deconvolution (<see cref="Reverse"/>) is the transpose, its bottom is
/// the column side and its top the image, so its forward is the convolution's data backward and
/// the other way round. Weights are (conv-out, conv-in/group, kH, kW) in both cases; the bias has
/// num_output values and is added to the top.
/// </para>
/// <para>
/// N-D: the axes before convolution_param.axis (default 1) are images, the axis itself channels,
/// and every axis after it spatial (at least one). Two spatial axes use the 2-D im2col/col2im;
/// any other count, or force_nd_im2col, the N-D ones (<see cref="Im2Col.ForwardNd"/>), with the
/// weights (conv-out, conv-in/group, k1, …, kn).
/// </para>
/// <para>
/// Images run in parallel on <see cref="WorkerPool"/>, each worker slot with its own column
/// buffer. Parameter gradients are summed per chunk of images into partial buffers, and the chunks
/// are added in order; the chunks depend only on the batch size and the weight size, never on the
/// thread count, so the gradients are the same bit for bit on any machine.
/// </para>
/// </remarks>
public abstract partial class BaseConvolutionLayer : Layer
{
    /// <summary>At most this many chunks of images get their own parameter-gradient buffer.</summary>
    private const int MaxChunks = 16;

    /// <summary>Floats the partial parameter-gradient buffers may take together.</summary>
    private const long PartialBudget = 16L << 20;

    /// <summary>
    /// Above this many floats of partial gradients (chunks × weights), the chunks run in rounds of
    /// one per worker slot, each round added to the gradient before the next starts, so only one
    /// partial buffer per slot exists (AlexNet's conv2–conv5 at batch 10: 7 MiB instead of 35).
    /// The chunks and the order of the sums are the same, so is the result, bit for bit. Below it
    /// one parallel loop runs all chunks (small layers would feel the extra loops). Tests change it.
    /// </summary>
    internal static long RoundsAbove = 2L << 20;

    /// <summary>Whether stride-1 "same" convolutions run col2im as a convolution with flipped weights
    /// (see <see cref="FlipWeights"/>); tests turn it off to compare with col2im.</summary>
    internal static bool FlippedAdjoint = true;

    /// <summary>An image with at least this much work and fewer images than threads: GEMMs go parallel instead.</summary>
    private const long SerialImageFlops = 4L << 20;

    private protected ConvGeometry Geo;

    /// <summary>The window on every spatial axis (also set for 2-D).</summary>
    private protected NdGeometry NdGeo = null!;

    // The N-D path (spatial axes ≠ 2, or force_nd_im2col): im2col over (conv-in, d1, …, dn).
    private bool _nd, _is1x1;
    private int _axis, _spatialAxes;
    private int[] _ndImage = [];
    private int _numOutput, _group;
    private bool _biasTerm;

    // Shapes of the current reshape: the blobs, and the convolution's image and column sides.
    private int _num, _channels, _bottomSize, _topSize, _topSpatial;
    private int _convIn, _convOut, _imgH, _imgW, _colSpatial, _kernelDim, _outPerGroup, _colSize;

    // Stride-1 2-D convolutions whose column side is about as large as the image: image = col2im(Wᵀ·columns)
    // runs as a convolution of the column side with the flipped weights (_flipped, remade per pass).
    private bool _flippedAdjoint;
    private ConvWindow _adjointWindow;
    private float[] _flipped = [];

    // Small outputs (few positions per image): images are taken _fold at a time into one product
    // whose columns are theirs side by side (forward, bottom gradient) or whose k runs over them
    // (weight gradient), through a buffer of _foldSize floats; 1 = one product per image.
    private int _fold = 1, _foldSize;

    /// <summary>Convolutions with fewer output positions per image than this fold images together.</summary>
    internal static int FoldBelow = 256;

    /// <summary>A fold aims at this many columns.</summary>
    private const int FoldColumns = 512;

    // This call's scratch, taken from the thread's shared ConvolutionWorkspace.
    private float[][] _cols = [];
    private int _slots = 1;
    private float[][] _weightPartials = [];
    private float[][] _biasPartials = [];
    private int _chunks = 1;
    private bool _inRounds;
    private int _partialBuffers = 1;

    private protected BaseConvolutionLayer(LayerParameter param) : base(param) { }

    public override int MinBottoms => 1;
    public override int MinTops => 1;
    public override bool EqualBottomTopCount => true;

    /// <summary>True for deconvolution: the bottom is the column side, the top the image.</summary>
    private protected abstract bool Reverse { get; }

    /// <summary>The top's extent along one spatial axis for a bottom extent of <paramref name="input"/> (≤ 0: does not fit).</summary>
    private protected abstract int OutputExtent(int input, int kernel, int stride, int pad, int dilation);

    public override void LayerSetUp(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        var p = Param.ConvolutionParam ?? throw Error("convolution_param with num_output is required");
        _axis = ChannelAxis(bottom[0], p);
        _spatialAxes = bottom[0].NumAxes - _axis - 1;
        NdGeo = NdGeometry.FromConvolution(p, _spatialAxes, Error);
        if (_spatialAxes == 2) Geo = ConvGeometry.FromConvolution(p, Error);
        _nd = _spatialAxes != 2 || p.ForceNdIm2Col;
        _is1x1 = _nd ? NdGeo.Is1x1 : Geo.Is1x1;
        if (!p.HasNumOutput || p.NumOutput == 0) throw Error("convolution_param.num_output is required and must be positive");
        _numOutput = checked((int)p.NumOutput);
        _group = checked((int)p.Group);
        if (_group <= 0) throw Error("group must be positive");
        _biasTerm = p.BiasTerm;

        _channels = bottom[0].Dim(_axis);
        if (_channels % _group != 0)
            throw Error($"input channels ({_channels}) must be divisible by group ({_group})");
        if (_numOutput % _group != 0)
            throw Error($"num_output ({_numOutput}) must be divisible by group ({_group})");
        (_convIn, _convOut) = Reverse ? (_numOutput, _channels) : (_channels, _numOutput);

        int[] weightShape = [_convOut, _convIn / _group, .. NdGeo.Kernel];
        SetUpWeights(weightShape, p.WeightFiller, _biasTerm ? _numOutput : 0, p.BiasFiller);
    }

    /// <summary>The channel axis (convolution_param.axis): the axes before it are images, those after it spatial (at least one).</summary>
    private int ChannelAxis(Blob b, ConvolutionParameter p)
    {
        int axis = p.Axis < 0 ? p.Axis + b.NumAxes : p.Axis;
        if (axis < 0 || axis >= b.NumAxes)
            throw Error($"axis {p.Axis} is out of range for bottom \"{b.Name}\" {b.ShapeString}");
        if (b.NumAxes - axis - 1 < 1)
            throw Error($"bottom \"{b.Name}\" {b.ShapeString} has no spatial axis after the channel axis {axis}");
        return axis;
    }

    public override void Reshape(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        var b0 = bottom[0];
        if (b0.NumAxes != _axis + 1 + _spatialAxes)
            throw Error($"bottom \"{b0.Name}\" is {b0.ShapeString}, but the layer was set up for {_spatialAxes} spatial axes after channel axis {_axis}");
        for (int i = 1; i < bottom.Count; i++)
            if (!bottom[i].ShapeEquals(b0))
                throw Error($"all bottoms must have one shape: \"{b0.Name}\" is {b0.ShapeString} but \"{bottom[i].Name}\" is {bottom[i].ShapeString}");
        if (b0.Dim(_axis) != _channels)
            throw Error($"bottom \"{b0.Name}\" has {b0.Dim(_axis)} channels but the weights were made for {_channels}");

        _num = checked((int)b0.CountRange(0, _axis));
        var inSpatial = new int[_spatialAxes];
        var outSpatial = new int[_spatialAxes];
        for (int d = 0; d < _spatialAxes; d++)
        {
            inSpatial[d] = b0.Dim(_axis + 1 + d);
            outSpatial[d] = OutputExtent(inSpatial[d], NdGeo.Kernel[d], NdGeo.Stride[d], NdGeo.Pad[d], NdGeo.Dilation[d]);
        }
        if (outSpatial.Any(o => o <= 0))
        {
            if (_spatialAxes == 2)
            {
                int height = inSpatial[0], width = inSpatial[1];
                throw Error($"{Geo} does not fit the input {height}×{width} (padded {height + 2 * Geo.PadH}×{width + 2 * Geo.PadW}, kernel extent " +
                            $"{Geo.DilationH * (Geo.KernelH - 1) + 1}×{Geo.DilationW * (Geo.KernelW - 1) + 1})");
            }
            throw Error($"{NdGeo} does not fit the input {NdGeometry.Join(inSpatial)} (padded " +
                        $"{NdGeometry.Join(inSpatial.Select((v, d) => v + 2 * NdGeo.Pad[d]))}, kernel extent " +
                        $"{NdGeometry.Join(NdGeo.Kernel.Select((k, d) => NdGeo.Dilation[d] * (k - 1) + 1))})");
        }
        var topShape = new int[b0.NumAxes];
        for (int a = 0; a < _axis; a++) topShape[a] = b0.Dim(a);
        topShape[_axis] = _numOutput;
        outSpatial.CopyTo(topShape, _axis + 1);
        foreach (var t in top) t.Reshape(topShape);

        int inCount = checked(inSpatial.Aggregate(1, (a, v) => a * v)), outCount = checked(outSpatial.Aggregate(1, (a, v) => a * v));
        _bottomSize = checked(_channels * inCount);
        _topSpatial = outCount;
        _topSize = checked(_numOutput * _topSpatial);
        var imageSpatial = Reverse ? outSpatial : inSpatial;
        _colSpatial = Reverse ? inCount : outCount;
        if (_nd) _ndImage = [_convIn, .. imageSpatial];
        else (_imgH, _imgW) = (imageSpatial[0], imageSpatial[1]);
        _kernelDim = checked(_convIn / _group * NdGeo.Kernel.Aggregate(1, (a, k) => a * k));
        _outPerGroup = _convOut / _group;
        _colSize = checked(_kernelDim * _group * _colSpatial);
        _fold = !Reverse && !_nd && _num > 1 && _colSpatial < FoldBelow ? Math.Min(_num, (FoldColumns + _colSpatial - 1) / _colSpatial) : 1;
        // 1×1 folds keep the gathered top gradients beside the bottom gradients they give (Wᵀ · dy).
        _foldSize = _fold <= 1 ? 0
            : _is1x1 ? checked(_fold * (_convOut + _convIn) * _colSpatial)
            : checked(_fold * Math.Max(_convOut * _colSpatial, _convIn * _imgH * _imgW));
        _flippedAdjoint = false;
        if (!_nd && !_is1x1 && Geo.StrideH == 1 && Geo.StrideW == 1)
        {
            // The adjoint reads the column side (outH × outW, conv-out/group channels) padded by
            // dilation·(kernel − 1) − pad so that its output is the image again; worth it when that
            // padding adds little work (pad ≈ kernel/2: "same" convolutions).
            int padH = Geo.DilationH * (Geo.KernelH - 1) - Geo.PadH, padW = Geo.DilationW * (Geo.KernelW - 1) - Geo.PadW;
            int colH = Im2Col.OutputSize(_imgH, Geo.KernelH, Geo.PadH, 1, Geo.DilationH), colW = Im2Col.OutputSize(_imgW, Geo.KernelW, Geo.PadW, 1, Geo.DilationW);
            _adjointWindow = new ConvWindow(_convOut / _group, colH, colW, Geo.KernelH, Geo.KernelW, padH, padW, 1, 1, Geo.DilationH, Geo.DilationW);
            _flippedAdjoint = FlippedAdjoint && padH >= 0 && padW >= 0 && 4L * _imgH * _imgW <= 5L * _colSpatial;
        }

        // Worker slots, each with a column buffer (none needed for 1×1). Images run in parallel
        // when there are enough of them or each is small; otherwise one image at a time, and the
        // GEMMs spread over the threads themselves.
        int threads = WorkerPool.Threads;
        long imageFlops = 2L * _convOut * _colSpatial * _kernelDim;
        _slots = _num >= threads || imageFlops < SerialImageFlops ? Math.Max(1, Math.Min(_num, threads)) : 1;

        // Chunks of images with their own gradient buffers: a function of the shapes only. The
        // buffers themselves live in the thread's shared ConvolutionWorkspace.
        long weightCount = Blobs[0].Count;
        _chunks = (int)Math.Max(1, Math.Min(Math.Min(_num, MaxChunks), PartialBudget / Math.Max(1, weightCount)));
        int parallelChunks = Math.Min(_slots, _chunks);
        _inRounds = parallelChunks < _chunks && _chunks * weightCount > RoundsAbove;
        _partialBuffers = _inRounds ? parallelChunks : _chunks;
        // Every convolution of a net is reshaped before any runs, so the shared column buffers
        // are made once at the largest size (the partial gradients are announced in Forward, when
        // the net has said which parameters need gradients).
        ConvolutionWorkspace.ForThisThread.ReserveColumns(_slots, ColumnBufferSize);
    }

    /// <summary>Floats of column buffer per slot: only the N-D path and col2im need one.</summary>
    private int ColumnBufferSize => Math.Max(_foldSize, _is1x1 || (Implicit && _flippedAdjoint) ? 0 : _colSize);

    /// <summary>Takes this call's column buffers (and partial gradients) from the thread's shared workspace.</summary>
    private void TakeWorkspace(bool partials)
    {
        var workspace = ConvolutionWorkspace.ForThisThread;
        _cols = workspace.Columns(_slots, ColumnBufferSize);
        if (partials && _chunks > 1) (_weightPartials, _biasPartials) = workspace.Partials(_partialBuffers, Blobs[0].Count, _numOutput);
    }

    // ---- the convolution's pieces, one image ---------------------------------------------

    /// <summary>Column side (conv-out × colSpatial) = W · im2col(image); overwrites <paramref name="output"/>.</summary>
    private void GemmForward(ReadOnlySpan<float> image, Span<float> output, float[] colBuffer)
    {
        if (Implicit)
        {
            // The GEMM packs the columns straight from the image: no column buffer.
            var window = GroupWindow;
            int imageGroup = window.ImageCount, wGroupSize = _outPerGroup * _kernelDim, outGroup = _outPerGroup * _colSpatial;
            ReadOnlySpan<float> w = Blobs[0].Data;
            for (int g = 0; g < _group; g++)
                Blas.SgemmIm2Col(_outPerGroup, 1f, w.Slice(g * wGroupSize, wGroupSize), _kernelDim,
                    image.Slice(g * imageGroup, imageGroup), window, 0f, output.Slice(g * outGroup, outGroup), _colSpatial);
            return;
        }
        ReadOnlySpan<float> col = image;
        if (!_is1x1)
        {
            ToColumns(image, colBuffer.AsSpan(0, _colSize));
            col = colBuffer.AsSpan(0, _colSize);
        }
        ReadOnlySpan<float> weights = Blobs[0].Data;
        int wGroup = _outPerGroup * _kernelDim, cGroup = _kernelDim * _colSpatial, oGroup = _outPerGroup * _colSpatial;
        for (int g = 0; g < _group; g++)
            Blas.Sgemm(false, false, _outPerGroup, _colSpatial, _kernelDim, 1f,
                weights.Slice(g * wGroup, wGroup), col.Slice(g * cGroup, cGroup), 0f, output.Slice(g * oGroup, oGroup));
    }

    /// <summary>Image = col2im(Wᵀ · column side); overwrites <paramref name="image"/>.</summary>
    private void GemmBackward(ReadOnlySpan<float> output, Span<float> image, float[] colBuffer)
    {
        if (_flippedAdjoint)
        {
            // image = conv(column side, flipped weights): one implicit product per group, no col2im.
            var window = _adjointWindow;
            int inPerGroup = _convIn / _group, imageGroup = inPerGroup * _imgH * _imgW, outGroup = window.ImageCount;
            int fGroup = inPerGroup * _outPerGroup * Geo.KernelH * Geo.KernelW, fRow = _outPerGroup * Geo.KernelH * Geo.KernelW;
            for (int g = 0; g < _group; g++)
                Blas.SgemmIm2Col(inPerGroup, 1f, _flipped.AsSpan(g * fGroup, fGroup), fRow, output.Slice(g * outGroup, outGroup), window,
                    0f, image.Slice(g * imageGroup, imageGroup), _imgH * _imgW);
            return;
        }
        ReadOnlySpan<float> weights = Blobs[0].Data;
        int wGroup = _outPerGroup * _kernelDim, cGroup = _kernelDim * _colSpatial, oGroup = _outPerGroup * _colSpatial;
        var target = _is1x1 ? image : colBuffer.AsSpan(0, _colSize);
        for (int g = 0; g < _group; g++)
            Blas.Sgemm(true, false, _kernelDim, _colSpatial, _outPerGroup, 1f,
                weights.Slice(g * wGroup, wGroup), output.Slice(g * oGroup, oGroup), 0f, target.Slice(g * cGroup, cGroup));
        if (!_is1x1)
        {
            if (_nd) Im2Col.BackwardNd(target, _ndImage, NdGeo.Kernel, NdGeo.Pad, NdGeo.Stride, NdGeo.Dilation, image);
            else
                Im2Col.Backward(target, _convIn, _imgH, _imgW, Geo.KernelH, Geo.KernelW, Geo.PadH, Geo.PadW,
                    Geo.StrideH, Geo.StrideW, Geo.DilationH, Geo.DilationW, image);
        }
    }

    /// <summary>2-D products whose column matrix the GEMM packs from the image (<see cref="Blas.SgemmIm2Col"/>);
    /// 1×1 convolutions use the image itself, N-D ones an explicit column buffer.</summary>
    private bool Implicit => !_nd && !_is1x1;

    /// <summary>The 2-D window over one group's channels of the image side.</summary>
    private ConvWindow GroupWindow => Window with { Channels = _convIn / _group };

    /// <summary>im2col of one image (conv-in × spatial) into <paramref name="columns"/>: only the N-D path
    /// builds the column matrix (2-D products pack it from the image, see <see cref="Implicit"/>).</summary>
    private void ToColumns(ReadOnlySpan<float> image, Span<float> columns)
        => Im2Col.ForwardNd(image, _ndImage, NdGeo.Kernel, NdGeo.Pad, NdGeo.Stride, NdGeo.Dilation, columns);

    /// <summary>weightDiff += column side · im2col(image)ᵀ.</summary>
    private void GemmWeight(ReadOnlySpan<float> image, ReadOnlySpan<float> output, Span<float> weightDiff, float[] colBuffer)
    {
        if (Implicit)
        {
            var window = GroupWindow;
            int imageGroup = window.ImageCount, wGroupSize = _outPerGroup * _kernelDim, outGroup = _outPerGroup * _colSpatial;
            for (int g = 0; g < _group; g++)
                Blas.SgemmIm2ColT(_outPerGroup, 1f, output.Slice(g * outGroup, outGroup), _colSpatial,
                    image.Slice(g * imageGroup, imageGroup), window, 1f, weightDiff.Slice(g * wGroupSize, wGroupSize), _kernelDim);
            return;
        }
        ReadOnlySpan<float> col = image;
        if (!_is1x1)
        {
            ToColumns(image, colBuffer.AsSpan(0, _colSize));
            col = colBuffer.AsSpan(0, _colSize);
        }
        int wGroup = _outPerGroup * _kernelDim, cGroup = _kernelDim * _colSpatial, oGroup = _outPerGroup * _colSpatial;
        for (int g = 0; g < _group; g++)
            Blas.Sgemm(false, true, _outPerGroup, _kernelDim, _colSpatial, 1f,
                output.Slice(g * oGroup, oGroup), col.Slice(g * cGroup, cGroup), 1f, weightDiff.Slice(g * wGroup, wGroup));
    }

    // ---- forward -------------------------------------------------------------------------

    public override void Forward(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        if (_num == 0) return;
        if (_fold == 1 && _chunks > 1 && Array.IndexOf(ParamPropagateDown, true) >= 0)
            ConvolutionWorkspace.ForThisThread.ReservePartials(_partialBuffers, Blobs[0].Count, _numOutput);
        TakeWorkspace(partials: false);
        if (Reverse && _flippedAdjoint) FlipWeights();
        for (int i = 0; i < bottom.Count; i++)
        {
            if (_fold > 1) ForwardFolded(bottom[i], top[i]);
            else WorkerPool.For(_slots, (this, bottom[i], top[i]), static (s, st) => st.Item1.ForwardSlot(s, st.Item2, st.Item3));
        }
    }

    // ---- backward ------------------------------------------------------------------------

    private readonly record struct BackwardJob(
        BaseConvolutionLayer Layer, IReadOnlyList<Blob> Top, IReadOnlyList<bool> PropagateDown, IReadOnlyList<Blob> Bottom, bool NeedWeight, bool NeedBias,
        int FirstChunk = 0);

    public override void Backward(IReadOnlyList<Blob> top, IReadOnlyList<bool> propagateDown, IReadOnlyList<Blob> bottom)
    {
        bool needWeight = ParamPropagateDown.Length > 0 && ParamPropagateDown[0];
        bool needBias = _biasTerm && ParamPropagateDown.Length > 1 && ParamPropagateDown[1];
        bool anyBottom = false;
        for (int i = 0; i < propagateDown.Count; i++) anyBottom |= propagateDown[i];
        if (_num == 0 || (!needWeight && !needBias && !anyBottom)) return;
        var job = new BackwardJob(this, top, propagateDown, bottom, needWeight, needBias);
        TakeWorkspace(partials: _fold == 1 && (needWeight || needBias));
        if (!Reverse && anyBottom && _flippedAdjoint) FlipWeights();
        if (_fold > 1)
        {
            for (int i = 0; i < bottom.Count; i++) BackwardFolded(job, i);
            // Strided: the bottom gradient image by image (col2im), in parallel.
            if (anyBottom && !_flippedAdjoint && !_is1x1) WorkerPool.For(_slots, job, static (s, j) => j.Layer.BackwardSlot(s, j));
            return;
        }

        if (!needWeight && !needBias)
        {
            // Only bottom gradients: every image is independent.
            WorkerPool.For(_slots, job, static (s, j) => j.Layer.BackwardSlot(s, j));
            return;
        }
        if (_chunks == 1)
        {
            BackwardChunk(0, _cols[0], job, Blobs[0].Diff, needBias ? Blobs[1].Diff : default);
            return;
        }
        // The chunks' partial gradients are summed in chunk order: the same result on any thread count.
        if (_inRounds)
        {
            for (int first = 0; first < _chunks; first += _partialBuffers)
            {
                int count = Math.Min(_partialBuffers, _chunks - first);
                WorkerPool.For(count, job with { FirstChunk = first }, static (s, j) => j.Layer.BackwardRoundChunk(s, j));
                for (int s = 0; s < count; s++) AddPartial(s, needWeight, needBias);
            }
            return;
        }
        WorkerPool.For(Math.Min(_slots, _chunks), job, static (s, j) => j.Layer.BackwardChunks(s, j));
        for (int c = 0; c < _chunks; c++) AddPartial(c, needWeight, needBias);
    }

    /// <summary>Adds partial buffer <paramref name="index"/> to the parameter gradients.</summary>
    private void AddPartial(int index, bool needWeight, bool needBias)
    {
        if (needWeight)
        {
            var diff = Blobs[0].Diff;
            TensorPrimitives.Add(diff, _weightPartials[index].AsSpan(0, diff.Length), diff);
        }
        if (needBias)
        {
            var diff = Blobs[1].Diff;
            TensorPrimitives.Add(diff, _biasPartials[index].AsSpan(0, diff.Length), diff);
        }
    }

    /// <summary>In a round: chunk FirstChunk + <paramref name="slot"/> into the slot's partial buffers.</summary>
    private void BackwardRoundChunk(int slot, BackwardJob job)
    {
        var w = _weightPartials[slot].AsSpan(0, (int)Blobs[0].Count);
        var b = _biasPartials[slot].AsSpan(0, _numOutput);
        w.Clear();
        b.Clear();
        BackwardChunk(job.FirstChunk + slot, _cols[slot], job, w, job.NeedBias ? b : default);
    }

    private void BackwardSlot(int slot, BackwardJob job)
    {
        var col = _cols[slot];
        for (int n = slot; n < _num; n += _slots)
            for (int i = 0; i < job.Bottom.Count; i++)
                if (job.PropagateDown[i]) BackwardImage(job, i, n, col, default, default);
    }

    private void BackwardChunks(int slot, BackwardJob job)
    {
        int slots = Math.Min(_slots, _chunks);
        for (int c = slot; c < _chunks; c += slots)
        {
            var w = _weightPartials[c].AsSpan(0, (int)Blobs[0].Count);
            var b = _biasPartials[c].AsSpan(0, _numOutput);
            w.Clear();
            b.Clear();
            BackwardChunk(c, _cols[slot], job, w, job.NeedBias ? b : default);
        }
    }

    /// <summary>Images of chunk <paramref name="chunk"/>, every bottom, adding parameter gradients into the given spans.</summary>
    private void BackwardChunk(int chunk, float[] col, BackwardJob job, Span<float> weightDiff, Span<float> biasDiff)
    {
        int start = (int)((long)_num * chunk / _chunks), end = (int)((long)_num * (chunk + 1) / _chunks);
        for (int i = 0; i < job.Bottom.Count; i++)
            for (int n = start; n < end; n++)
                BackwardImage(job, i, n, col, job.NeedWeight ? weightDiff : default, job.NeedBias ? biasDiff : default);
    }

    /// <summary>
    /// One image of bottom <paramref name="i"/>: adds into <paramref name="weightDiff"/> and
    /// <paramref name="biasDiff"/> when they are not empty; overwrites the bottom gradient when asked.
    /// </summary>
    private void BackwardImage(BackwardJob job, int i, int n, float[] colBuffer, Span<float> weightDiff, Span<float> biasDiff)
    {
        ReadOnlySpan<float> topDiff = job.Top[i].Diff.Slice(n * _topSize, _topSize);

        if (!biasDiff.IsEmpty)
            for (int m = 0; m < _numOutput; m++)
                biasDiff[m] += TensorPrimitives.Sum<float>(topDiff.Slice(m * _topSpatial, _topSpatial));

        if (!weightDiff.IsEmpty)
        {
            ReadOnlySpan<float> bottomData = job.Bottom[i].Data.Slice(n * _bottomSize, _bottomSize);
            if (Reverse) GemmWeight(topDiff, bottomData, weightDiff, colBuffer);
            else GemmWeight(bottomData, topDiff, weightDiff, colBuffer);
        }

        if (job.PropagateDown[i])
        {
            var bottomDiff = job.Bottom[i].Diff.Slice(n * _bottomSize, _bottomSize);
            if (Reverse) GemmForward(topDiff, bottomDiff, colBuffer);
            else GemmBackward(topDiff, bottomDiff, colBuffer);
        }
    }
}
