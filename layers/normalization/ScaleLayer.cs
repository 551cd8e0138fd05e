using System.Numerics;
using System.Numerics.Tensors;
using Engine.Backends;
using Engine.Core;
using Engine.Cpu;
using Engine.Proto;

namespace Engine.Layers;

/// <summary>
/// Caffe's "Scale": top = bottom[0] · s (+ b), s broadcast along the bottom's axes
/// [axis, axis + k). One bottom: s is learned, shape bottom.shape[axis .. axis + num_axes)
/// (num_axes −1 = to the end, 0 = a scalar), filled by `filler` (default constant 1). Two
/// bottoms: s is bottom[1] (placed at `axis`; num_axes is not used) and gets a gradient.
/// bias_term adds a learned bias of s's shape (bias_filler, default constant 0); its blob follows
/// the scale's (or is the only one with two bottoms). May run in place (as after BatchNorm).
/// In place right after a BatchNorm and per channel, the net pairs it with that layer (see
/// <see cref="BatchNormLayer"/>): on the CPU the BatchNorm then does this layer's forward and dx.
/// </summary>
[LayerType("Scale")]
public sealed class ScaleLayer : Layer
{
    private BroadcastAxes _ax;
    private bool _biasTerm;
    private float[] _input = [];
    // Paired with the BatchNorm before it (Graph.BatchNormScaleFusion): that layer's forward wrote
    // this one's output (_forwardDone, taken by Forward); the last forward was the pair's
    // (_lastFused); this backward's per-channel Σdy and Σdy·x̂ wait for the BatchNorm's (_gradientDone).
    private BatchNormLayer? _pairedWith;
    private bool _forwardDone, _lastFused, _gradientDone;
    private double[] _fusedSum = [], _fusedDot = [];
    // In place on a device: the input kept for the scale's gradient.
    private readonly DeviceBuffer _dInput = new();

    public ScaleLayer(LayerParameter param) : base(param) { }

    public override int MinBottoms => 1;
    public override int MaxBottoms => 2;
    public override int ExactTops => 1;

    private ScaleParameter P => Param.ScaleParam ?? new ScaleParameter();

    /// <summary>Whether the pair runs fused; the net turns it off while debug_info prints each
    /// layer's values, so that they are the unfused layers' own.</summary>
    internal bool FuseEnabled { get; set; } = true;

    /// <summary>Whether this layer can pair with <paramref name="bn"/>: one bottom (a learned s), one
    /// value of s per channel of the BatchNorm's bottom, in place on its top.</summary>
    internal bool CanPairWith(BatchNormLayer bn, Blob bottom, Blob top)
    {
        var (num, channels, spatial) = bn.Geometry;
        return _bottomCount == 1 && bottom == top && _ax.Outer == num && _ax.Dim == channels && _ax.Inner == spatial;
    }

    /// <summary>Pairs this layer with the BatchNorm that runs right before it, in place on its top.</summary>
    internal void PairWith(BatchNormLayer bn)
    {
        _pairedWith = bn;
        _input = [];
    }

    /// <summary>Called by the paired BatchNorm's forward: true when it should write this layer's
    /// output itself (this layer's next forward then does nothing).</summary>
    internal bool TakeForwardFromBatchNorm() => _forwardDone = FuseEnabled;

    /// <summary>Called by the paired BatchNorm's backward: true when this layer's backward left
    /// dx to it, with <see cref="FusedSums"/> ready.</summary>
    internal bool TakeGradientForBatchNorm()
    {
        bool ready = _gradientDone;
        _gradientDone = false;
        return ready;
    }

    internal float ScaleOf(int channel) => Blobs[0].Data[channel];
    internal float BiasOf(int channel) => _biasTerm ? Blobs[BiasIndex].Data[channel] : 0f;

    /// <summary>Σdy and Σdy·x̂ over channel <paramref name="channel"/>, from the last backward.</summary>
    internal (double Sum, double Dot) FusedSums(int channel) => (_fusedSum[channel], _fusedDot[channel]);

    private int BiasIndex => _bottomCount > 1 ? 0 : 1;
    private int _bottomCount = 1;

    public override void LayerSetUp(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        var p = P;
        _biasTerm = p.BiasTerm;
        _bottomCount = bottom.Count;
        int[] shape = bottom.Count > 1 ? bottom[1].Shape.ToArray() : BroadcastAxes.ParamShape(bottom[0], p.Axis, p.NumAxes, Error);
        int expected = (bottom.Count > 1 ? 0 : 1) + (_biasTerm ? 1 : 0);
        if (Blobs.Count > 0)
        {
            if (Blobs.Count != expected)
                throw Error($"has {Blobs.Count} blobs, expected {expected} ({(bottom.Count > 1 ? "" : "scale")}{(bottom.Count == 1 && _biasTerm ? ", " : "")}{(_biasTerm ? "bias" : "")})");
            foreach (var b in Blobs)
                if (!b.ShapeEquals(shape)) throw Error($"blob shape {b.ShapeString} does not match ({string.Join(" ", shape)})");
            ParamPropagateDown = Enumerable.Repeat(true, Blobs.Count).ToArray();
            return;
        }
        if (bottom.Count == 1)
        {
            var scale = new Blob("", shape);
            Filler.Fill(scale, p.Filler ?? new FillerParameter { Type = "constant", Value = 1 }, FillerRng, Name);
            Blobs.Add(scale);
        }
        if (_biasTerm)
        {
            var bias = new Blob("", shape);
            Filler.Fill(bias, p.BiasFiller, FillerRng, Name);
            Blobs.Add(bias);
        }
        ParamPropagateDown = Enumerable.Repeat(true, Blobs.Count).ToArray();
    }

    public override void Reshape(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        var scale = bottom.Count > 1 ? bottom[1] : Blobs[0];
        _ax = BroadcastAxes.Of(bottom[0], scale, P.Axis, Error);
        if (top[0] != bottom[0]) top[0].ReshapeLike(bottom[0]);
        // In place, the input is kept for the scale's gradient (paired, the BatchNorm keeps it).
        if (top[0] == bottom[0] && _pairedWith == null && _input.Length < bottom[0].Count) _input = new float[bottom[0].Count];
    }

    public override void Forward(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        _lastFused = _forwardDone;
        _forwardDone = false;
        if (_lastFused) return;
        // Run alone although paired (a forward from this layer on): keep the input after all.
        if (top[0] == bottom[0] && _input.Length < bottom[0].Count) _input = new float[bottom[0].Count];
        ForChannels(new Pass(this, top, null, bottom, Backward: false));
    }

    public override void Backward(IReadOnlyList<Blob> top, IReadOnlyList<bool> propagateDown, IReadOnlyList<Blob> bottom)
    {
        if (_lastFused)
        {
            BackwardPaired(top[0], propagateDown[0]);
            return;
        }
        bool needScale = bottom.Count > 1 ? propagateDown[1] : ParamPropagateDown.Length > 0 && ParamPropagateDown[0];
        if (bottom.Count > 1 && needScale) bottom[1].Diff.Clear();
        ForChannels(new Pass(this, top, propagateDown, bottom, Backward: true));
    }

    /// <summary>
    /// Backward after the pair's forward: per channel Σdy and Σdy·x̂ (x̂ the BatchNorm's normalised
    /// values, this layer's input), added to the bias and scale gradients and kept for the
    /// BatchNorm, whose backward writes dx; dy is left as it is.
    /// </summary>
    private void BackwardPaired(Blob top, bool propagateDown)
    {
        int dim = _ax.Dim;
        bool needScale = ParamPropagateDown.Length > 0 && ParamPropagateDown[0];
        bool needBias = _biasTerm && ParamPropagateDown.Length > BiasIndex && ParamPropagateDown[BiasIndex];
        _gradientDone = propagateDown;
        // A frozen pair (stored statistics, no learned s or b, as when fine-tuning) needs no sums.
        if (!needScale && !needBias && _pairedWith!.UsesGlobalStats) return;
        if (_fusedSum.Length < dim)
        {
            _fusedSum = new double[dim];
            _fusedDot = new double[dim];
        }
        // Blocks of channels across the threads, rows in memory order inside a block; each
        // channel's rows are summed in image order whatever the block.
        int blocks = top.Count >= ParallelCount ? Math.Min(dim, WorkerPool.Threads) : 1;
        WorkerPool.For(blocks, (Layer: this, Top: top, Blocks: blocks), static (block, st) =>
        {
            var layer = st.Layer;
            var ax = layer._ax;
            int first = (int)((long)ax.Dim * block / st.Blocks), end = (int)((long)ax.Dim * (block + 1) / st.Blocks);
            ReadOnlySpan<float> dy = st.Top.Diff;
            var x = layer._pairedWith!.Normalized(dy.Length);
            for (int d = first; d < end; d++) layer._fusedSum[d] = layer._fusedDot[d] = 0;
            for (int i = 0; i < ax.Outer; i++)
                for (int d = first; d < end; d++)
                {
                    int o = (i * ax.Dim + d) * ax.Inner;
                    var (sum, dot) = BatchNormLayer.SumAndDot(dy.Slice(o, ax.Inner), x.Slice(o, ax.Inner));
                    layer._fusedSum[d] += sum;
                    layer._fusedDot[d] += dot;
                }
        });
        if (needScale)
        {
            var ds = Blobs[0].Diff;
            for (int d = 0; d < dim; d++) ds[d] += (float)_fusedDot[d];
        }
        if (needBias)
        {
            var db = Blobs[BiasIndex].Diff;
            for (int d = 0; d < dim; d++) db[d] += (float)_fusedSum[d];
        }
    }

    private readonly record struct Pass(ScaleLayer Layer, IReadOnlyList<Blob> Top, IReadOnlyList<bool>? PropagateDown, IReadOnlyList<Blob> Bottom, bool Backward);

    /// <summary>Blobs at least this large split their channels across the worker threads.</summary>
    private const int ParallelCount = 1 << 16;

    /// <summary>Runs the pass over blocks of channels, in parallel for large blobs. Each channel's
    /// rows are visited in the same order whatever the block, so results do not depend on the thread count.</summary>
    private void ForChannels(Pass pass)
    {
        int blocks = pass.Bottom[0].Count >= ParallelCount ? Math.Min(_ax.Dim, WorkerPool.Threads) : 1;
        if (blocks <= 1)
        {
            Channels(pass, 0, _ax.Dim);
            return;
        }
        WorkerPool.For(blocks, (pass, blocks), static (b, st) =>
        {
            int dim = st.pass.Layer._ax.Dim;
            st.pass.Layer.Channels(st.pass, (int)((long)dim * b / st.blocks), (int)((long)dim * (b + 1) / st.blocks));
        });
    }

    private void Channels(Pass pass, int first, int end)
    {
        if (pass.Backward) BackwardChannels(pass.Top, pass.PropagateDown!, pass.Bottom, first, end);
        else ForwardChannels(pass.Bottom, pass.Top, first, end);
    }

    /// <summary>Channels [first, end): y = x·s (+ b), one pass per row (in place, x is kept first).</summary>
    private void ForwardChannels(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top, int first, int end)
    {
        ReadOnlySpan<float> x = bottom[0].Data;
        ReadOnlySpan<float> s = bottom.Count > 1 ? bottom[1].Data : Blobs[0].Data;
        bool inPlace = top[0] == bottom[0];
        var y = top[0].Data;
        ReadOnlySpan<float> bias = _biasTerm ? Blobs[BiasIndex].Data : default;
        int inner = _ax.Inner;
        for (int i = 0; i < _ax.Outer; i++)
            for (int d = first; d < end; d++)
            {
                int o = (i * _ax.Dim + d) * inner;
                ScaleShift(x.Slice(o, inner), s[d], _biasTerm ? bias[d] : 0f, y.Slice(o, inner), inPlace ? _input.AsSpan(o, inner) : default);
            }
    }

    /// <summary>y = x·scale + shift in one pass (TensorPrimitives has no form with two scalars), x
    /// also copied to <paramref name="keep"/> when it is not empty (in place, where y is x).</summary>
    private static void ScaleShift(ReadOnlySpan<float> x, float scale, float shift, Span<float> y, Span<float> keep)
    {
        var vs = new Vector<float>(scale);
        var vb = new Vector<float>(shift);
        int n = Vector<float>.Count, j = 0;
        if (keep.IsEmpty)
        {
            for (; j <= x.Length - n; j += n) (new Vector<float>(x.Slice(j)) * vs + vb).CopyTo(y.Slice(j));
            for (; j < x.Length; j++) y[j] = x[j] * scale + shift;
            return;
        }
        for (; j <= x.Length - n; j += n)
        {
            var v = new Vector<float>(x.Slice(j));
            v.CopyTo(keep.Slice(j));
            (v * vs + vb).CopyTo(y.Slice(j));
        }
        for (; j < x.Length; j++)
        {
            keep[j] = x[j];
            y[j] = x[j] * scale + shift;
        }
    }

    /// <summary>
    /// Channels [first, end), each row once while it is in cache: the bias gradient (Σ dy), the
    /// scale gradient (Σ dy·x), then dx = dy·s (in place, over dy, which is why it comes last).
    /// </summary>
    private void BackwardChannels(IReadOnlyList<Blob> top, IReadOnlyList<bool> propagateDown, IReadOnlyList<Blob> bottom, int first, int end)
    {
        ReadOnlySpan<float> dy = top[0].Diff;
        ReadOnlySpan<float> x = top[0] == bottom[0] ? _input.AsSpan(0, dy.Length) : bottom[0].Data;
        bool twoBottoms = bottom.Count > 1;
        bool needBias = _biasTerm && ParamPropagateDown.Length > BiasIndex && ParamPropagateDown[BiasIndex];
        bool needScale = twoBottoms ? propagateDown[1] : ParamPropagateDown.Length > 0 && ParamPropagateDown[0];
        var db = needBias ? Blobs[BiasIndex].Diff : default;
        var ds = needScale ? (twoBottoms ? bottom[1].Diff : Blobs[0].Diff) : default;
        ReadOnlySpan<float> s = twoBottoms ? bottom[1].Data : Blobs[0].Data;
        var dx = propagateDown[0] ? bottom[0].Diff : default;
        int inner = _ax.Inner;
        for (int i = 0; i < _ax.Outer; i++)
            for (int d = first; d < end; d++)
            {
                int o = (i * _ax.Dim + d) * inner;
                var g = dy.Slice(o, inner);
                if (needBias && needScale && propagateDown[0])
                {
                    // The usual case (a learned Scale with a bias, after BatchNorm): one pass over dy.
                    var (sum, dot) = SumDotScale(g, x.Slice(o, inner), s[d], dx.Slice(o, inner));
                    db[d] += sum;
                    ds[d] += dot;
                    continue;
                }
                if (needBias) db[d] += TensorPrimitives.Sum(g);
                if (needScale) ds[d] += TensorPrimitives.Dot(g, x.Slice(o, inner));
                if (propagateDown[0]) TensorPrimitives.Multiply(g, s[d], dx.Slice(o, inner));
            }
    }

    /// <summary>(Σ dy, Σ dy·x) and dx = dy·scale in one pass (dx may be dy: each dy is read before
    /// its dx is written).</summary>
    private static (float Sum, float Dot) SumDotScale(ReadOnlySpan<float> dy, ReadOnlySpan<float> x, float scale, Span<float> dx)
    {
        var vs = new Vector<float>(scale);
        Vector<float> s0 = Vector<float>.Zero, s1 = Vector<float>.Zero, d0 = Vector<float>.Zero, d1 = Vector<float>.Zero;
        int n = Vector<float>.Count, j = 0;
        for (; j <= dy.Length - 2 * n; j += 2 * n)
        {
            var g0 = new Vector<float>(dy.Slice(j));
            var g1 = new Vector<float>(dy.Slice(j + n));
            s0 += g0;
            s1 += g1;
            d0 += g0 * new Vector<float>(x.Slice(j));
            d1 += g1 * new Vector<float>(x.Slice(j + n));
            (g0 * vs).CopyTo(dx.Slice(j));
            (g1 * vs).CopyTo(dx.Slice(j + n));
        }
        float sum = Vector.Sum(s0 + s1), dot = Vector.Sum(d0 + d1);
        for (; j < dy.Length; j++)
        {
            float g = dy[j];
            sum += g;
            dot += g * x[j];
            dx[j] = g * scale;
        }
        return (sum, dot);
    }

    public override bool RunsOnDevice => true;

    public override void ForwardOn(IBackend backend, IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        var x = bottom[0].DataOn(backend);
        var s = (bottom.Count > 1 ? bottom[1] : Blobs[0]).DataOn(backend);
        if (top[0] == bottom[0]) backend.Copy(x, _dInput.On(backend, x.Count));
        BufferView? bias = _biasTerm ? Blobs[BiasIndex].DataOn(backend) : (BufferView?)null;
        backend.ChannelAffine(_ax.Outer, _ax.Dim, _ax.Inner, x, s, bias, top[0].MutableDataOn(backend));
    }

    public override void BackwardOn(IBackend backend, IReadOnlyList<Blob> top, IReadOnlyList<bool> propagateDown, IReadOnlyList<Blob> bottom)
    {
        var dy = top[0].DiffOn(backend);
        bool twoBottoms = bottom.Count > 1;
        // The parameter gradients first: in place, dx overwrites dy.
        if (_biasTerm && ParamPropagateDown.Length > BiasIndex && ParamPropagateDown[BiasIndex])
            backend.ChannelSum(ChannelReduction.Sum, _ax.Outer, _ax.Dim, _ax.Inner, dy, null, 1f, 1f, Blobs[BiasIndex].MutableDiffOn(backend));
        bool needScale = twoBottoms ? propagateDown[1] : ParamPropagateDown.Length > 0 && ParamPropagateDown[0];
        if (needScale)
        {
            var x = top[0] == bottom[0] ? _dInput.On(backend, dy.Count) : bottom[0].DataOn(backend);
            var ds = (twoBottoms ? bottom[1] : Blobs[0]).MutableDiffOn(backend);
            backend.ChannelSum(ChannelReduction.Dot, _ax.Outer, _ax.Dim, _ax.Inner, dy, x, 1f, twoBottoms ? 0f : 1f, ds);
        }
        if (propagateDown[0])
        {
            var s = (twoBottoms ? bottom[1] : Blobs[0]).DataOn(backend);
            backend.ChannelAffine(_ax.Outer, _ax.Dim, _ax.Inner, dy, s, null, bottom[0].MutableDiffOn(backend));
        }
    }
}
