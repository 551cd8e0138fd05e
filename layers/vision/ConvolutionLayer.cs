using System.Numerics.Tensors;
using Engine.Core;
using Engine.Cpu;
using Engine.Proto;

namespace Engine.Layers;

/// <summary>
/// 2-D convolution (Caffe's "Convolution"): bottoms N×C×H×W, weights (num_output, C/group, kH, kW),
/// bias (num_output). Each image is unrolled by im2col and multiplied by each group's weights with
/// one GEMM; 1×1 kernels with stride 1 and no padding use the image directly. Several bottom/top
/// pairs of one shape share the weights.
/// </summary>
/// <remarks>
/// Images run in parallel on <see cref="WorkerPool"/>, each worker slot with its own column
/// buffer. Parameter gradients are summed per chunk of images into partial buffers, and the chunks
/// are added in order; the chunks depend only on the batch size and the weight size, never on the
/// thread count, so the gradients are the same bit for bit on any machine.
/// </remarks>
[LayerType("Convolution")]
public sealed class ConvolutionLayer : Layer
{
    /// <summary>At most this many chunks of images get their own parameter-gradient buffer.</summary>
    private const int MaxChunks = 16;

    /// <summary>Floats the partial parameter-gradient buffers may take together.</summary>
    private const long PartialBudget = 16L << 20;

    /// <summary>An image with at least this much work and fewer images than threads: GEMMs go parallel instead.</summary>
    private const long SerialImageFlops = 4L << 20;

    private ConvGeometry _geo;
    private int _numOutput, _group;
    private bool _biasTerm;

    // Shapes of the current reshape.
    private int _num, _channels, _height, _width, _outH, _outW;
    private int _imageSize, _outSpatial, _kernelDim, _outPerGroup, _colSize;

    // Scratch, grown in Reshape only.
    private float[][] _cols = [];
    private int _slots = 1;
    private float[][] _weightPartials = [];
    private float[][] _biasPartials = [];
    private int _chunks = 1;

    public ConvolutionLayer(LayerParameter param) : base(param) { }

    public override int MinBottoms => 1;
    public override int MinTops => 1;
    public override bool EqualBottomTopCount => true;

    public override void LayerSetUp(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        var p = Param.ConvolutionParam ?? throw Error("convolution_param with num_output is required");
        CheckAxes(bottom[0], p);
        _geo = ConvGeometry.FromConvolution(p, Error);
        if (!p.HasNumOutput || p.NumOutput == 0) throw Error("convolution_param.num_output is required and must be positive");
        _numOutput = checked((int)p.NumOutput);
        _group = checked((int)p.Group);
        if (_group <= 0) throw Error("group must be positive");
        _biasTerm = p.BiasTerm;

        _channels = bottom[0].Dim(1);
        if (_channels % _group != 0)
            throw Error($"input channels ({_channels}) must be divisible by group ({_group})");
        if (_numOutput % _group != 0)
            throw Error($"num_output ({_numOutput}) must be divisible by group ({_group})");

        int[] weightShape = [_numOutput, _channels / _group, _geo.KernelH, _geo.KernelW];
        SetUpWeights(weightShape, p.WeightFiller, _biasTerm ? _numOutput : 0, p.BiasFiller);
    }

    private void CheckAxes(Blob b, ConvolutionParameter p)
    {
        int axis = p.Axis < 0 ? p.Axis + b.NumAxes : p.Axis;
        if (axis != 1)
            throw Error($"axis {p.Axis} is not supported; channels must be axis 1 (N×C×H×W)");
        if (b.NumAxes != 4)
            throw Error($"bottom \"{b.Name}\" is {b.NumAxes}-D {b.ShapeString}; only 2-D convolution of N×C×H×W blobs is supported (N-D convolution arrives with the layer catalog)");
    }

    public override void Reshape(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        var b0 = bottom[0];
        CheckAxes(b0, Param.ConvolutionParam);
        for (int i = 1; i < bottom.Count; i++)
            if (!bottom[i].ShapeEquals(b0))
                throw Error($"all bottoms must have one shape: \"{b0.Name}\" is {b0.ShapeString} but \"{bottom[i].Name}\" is {bottom[i].ShapeString}");
        if (b0.Dim(1) != _channels)
            throw Error($"bottom \"{b0.Name}\" has {b0.Dim(1)} channels but the weights were made for {_channels}");

        _num = b0.Dim(0);
        _height = b0.Dim(2);
        _width = b0.Dim(3);
        _outH = _geo.OutputH(_height);
        _outW = _geo.OutputW(_width);
        if (_outH <= 0 || _outW <= 0)
            throw Error($"{_geo} does not fit the input {_height}×{_width} (padded {_height + 2 * _geo.PadH}×{_width + 2 * _geo.PadW}, kernel extent " +
                        $"{_geo.DilationH * (_geo.KernelH - 1) + 1}×{_geo.DilationW * (_geo.KernelW - 1) + 1})");
        foreach (var t in top) t.Reshape(_num, _numOutput, _outH, _outW);

        _imageSize = _channels * _height * _width;
        _outSpatial = _outH * _outW;
        _kernelDim = _channels / _group * _geo.KernelH * _geo.KernelW;
        _outPerGroup = _numOutput / _group;
        _colSize = checked(_kernelDim * _group * _outSpatial);

        // Worker slots, each with a column buffer (none needed for 1×1). Images run in parallel
        // when there are enough of them or each is small; otherwise one image at a time, and the
        // GEMMs spread over the threads themselves.
        int threads = WorkerPool.Threads;
        long imageFlops = 2L * _numOutput * _outSpatial * _kernelDim;
        _slots = _num >= threads || imageFlops < SerialImageFlops ? Math.Max(1, Math.Min(_num, threads)) : 1;
        if (_cols.Length < _slots) Array.Resize(ref _cols, _slots);
        for (int s = 0; s < _slots; s++)
        {
            _cols[s] ??= [];
            if (!_geo.Is1x1 && _cols[s].Length < _colSize) _cols[s] = new float[_colSize];
        }

        // Chunks of images with their own gradient buffers: a function of the shapes only.
        long weightCount = Blobs[0].Count;
        _chunks = (int)Math.Max(1, Math.Min(Math.Min(_num, MaxChunks), PartialBudget / Math.Max(1, weightCount)));
        if (_chunks > 1)
        {
            if (_weightPartials.Length < _chunks)
            {
                Array.Resize(ref _weightPartials, _chunks);
                Array.Resize(ref _biasPartials, _chunks);
            }
            for (int c = 0; c < _chunks; c++)
            {
                if (_weightPartials[c] == null || _weightPartials[c].Length < weightCount) _weightPartials[c] = new float[weightCount];
                if (_biasPartials[c] == null || _biasPartials[c].Length < _numOutput) _biasPartials[c] = new float[_numOutput];
            }
        }
    }

    // ---- forward -------------------------------------------------------------------------

    public override void Forward(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        if (_num == 0) return;
        for (int i = 0; i < bottom.Count; i++)
            WorkerPool.For(_slots, (this, bottom[i], top[i]), static (s, st) => st.Item1.ForwardSlot(s, st.Item2, st.Item3));
    }

    private void ForwardSlot(int slot, Blob bottom, Blob top)
    {
        var col = _cols[slot];
        for (int n = slot; n < _num; n += _slots) ForwardImage(bottom, top, n, col);
    }

    private void ForwardImage(Blob bottom, Blob top, int n, float[] colBuffer)
    {
        var image = bottom.Data.Slice(n * _imageSize, _imageSize);
        var output = top.Data.Slice(n * _numOutput * _outSpatial, _numOutput * _outSpatial);
        ReadOnlySpan<float> col = image;
        if (!_geo.Is1x1)
        {
            Im2Col.Forward(image, _channels, _height, _width, _geo.KernelH, _geo.KernelW, _geo.PadH, _geo.PadW,
                _geo.StrideH, _geo.StrideW, _geo.DilationH, _geo.DilationW, colBuffer.AsSpan(0, _colSize));
            col = colBuffer.AsSpan(0, _colSize);
        }
        ReadOnlySpan<float> weights = Blobs[0].Data;
        int wGroup = _outPerGroup * _kernelDim, cGroup = _kernelDim * _outSpatial, oGroup = _outPerGroup * _outSpatial;
        for (int g = 0; g < _group; g++)
            Blas.Sgemm(false, false, _outPerGroup, _outSpatial, _kernelDim, 1f,
                weights.Slice(g * wGroup, wGroup), col.Slice(g * cGroup, cGroup), 0f, output.Slice(g * oGroup, oGroup));
        if (_biasTerm)
        {
            ReadOnlySpan<float> bias = Blobs[1].Data;
            for (int m = 0; m < _numOutput; m++)
            {
                var row = output.Slice(m * _outSpatial, _outSpatial);
                TensorPrimitives.Add(row, bias[m], row);
            }
        }
    }

    // ---- backward ------------------------------------------------------------------------

    private readonly record struct BackwardJob(
        ConvolutionLayer Layer, IReadOnlyList<Blob> Top, IReadOnlyList<bool> PropagateDown, IReadOnlyList<Blob> Bottom, bool NeedWeight, bool NeedBias);

    public override void Backward(IReadOnlyList<Blob> top, IReadOnlyList<bool> propagateDown, IReadOnlyList<Blob> bottom)
    {
        bool needWeight = ParamPropagateDown.Length > 0 && ParamPropagateDown[0];
        bool needBias = _biasTerm && ParamPropagateDown.Length > 1 && ParamPropagateDown[1];
        bool anyBottom = false;
        for (int i = 0; i < propagateDown.Count; i++) anyBottom |= propagateDown[i];
        if (_num == 0 || (!needWeight && !needBias && !anyBottom)) return;
        var job = new BackwardJob(this, top, propagateDown, bottom, needWeight, needBias);

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
        WorkerPool.For(Math.Min(_slots, _chunks), job, static (s, j) => j.Layer.BackwardChunks(s, j));
        // Sum the chunks' partial gradients in chunk order: the same result on any thread count.
        for (int c = 0; c < _chunks; c++)
        {
            if (needWeight)
            {
                var diff = Blobs[0].Diff;
                TensorPrimitives.Add(diff, _weightPartials[c].AsSpan(0, diff.Length), diff);
            }
            if (needBias)
            {
                var diff = Blobs[1].Diff;
                TensorPrimitives.Add(diff, _biasPartials[c].AsSpan(0, diff.Length), diff);
            }
        }
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
        var topDiff = job.Top[i].Diff.Slice(n * _numOutput * _outSpatial, _numOutput * _outSpatial);
        int wGroup = _outPerGroup * _kernelDim, cGroup = _kernelDim * _outSpatial, oGroup = _outPerGroup * _outSpatial;
        var colSpan = colBuffer.AsSpan(0, _geo.Is1x1 ? 0 : _colSize);

        if (!biasDiff.IsEmpty)
            for (int m = 0; m < _numOutput; m++)
                biasDiff[m] += TensorPrimitives.Sum<float>(topDiff.Slice(m * _outSpatial, _outSpatial));

        if (!weightDiff.IsEmpty)
        {
            ReadOnlySpan<float> image = job.Bottom[i].Data.Slice(n * _imageSize, _imageSize);
            ReadOnlySpan<float> col = image;
            if (!_geo.Is1x1)
            {
                Im2Col.Forward(image, _channels, _height, _width, _geo.KernelH, _geo.KernelW, _geo.PadH, _geo.PadW,
                    _geo.StrideH, _geo.StrideW, _geo.DilationH, _geo.DilationW, colSpan);
                col = colSpan;
            }
            for (int g = 0; g < _group; g++)
                Blas.Sgemm(false, true, _outPerGroup, _kernelDim, _outSpatial, 1f,
                    topDiff.Slice(g * oGroup, oGroup), col.Slice(g * cGroup, cGroup), 1f, weightDiff.Slice(g * wGroup, wGroup));
        }

        if (job.PropagateDown[i])
        {
            ReadOnlySpan<float> weights = Blobs[0].Data;
            var bottomDiff = job.Bottom[i].Diff.Slice(n * _imageSize, _imageSize);
            var target = _geo.Is1x1 ? bottomDiff : colSpan;
            for (int g = 0; g < _group; g++)
                Blas.Sgemm(true, false, _kernelDim, _outSpatial, _outPerGroup, 1f,
                    weights.Slice(g * wGroup, wGroup), topDiff.Slice(g * oGroup, oGroup), 0f, target.Slice(g * cGroup, cGroup));
            if (!_geo.Is1x1)
                Im2Col.Backward(colSpan, _channels, _height, _width, _geo.KernelH, _geo.KernelW, _geo.PadH, _geo.PadW,
                    _geo.StrideH, _geo.StrideW, _geo.DilationH, _geo.DilationW, bottomDiff);
        }
    }
}
