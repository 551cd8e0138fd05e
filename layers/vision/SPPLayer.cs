using Engine.Backends;
using Engine.Core;
using Engine.Proto;
using PoolMethod = Engine.Proto.PoolingParameter.Types.PoolMethod;

namespace Engine.Layers;

/// <summary>
/// Caffe's "SPP", spatial pyramid pooling: level l (0 … pyramid_height − 1) pools N×C×H×W into
/// 2^l × 2^l bins with an internal Pooling layer (kernel ⌈H / 2^l⌉, stride = kernel, pad half the
/// remainder rounded up, method `pool`). The levels are flattened and concatenated:
/// top N × C·Σ4^l. With pyramid_height 1 the top is the single level's N×C×1×1, as in Caffe.
/// </summary>
[LayerType("SPP")]
public sealed class SPPLayer : Layer
{
    private int _levels;
    private PoolMethod _method;
    private int _height = -1, _width = -1, _num, _channels;
    private PoolingLayer[] _pools = [];
    private Blob[] _inputs = [], _outputs = [];
    private Blob[][] _inLists = [], _outLists = [];
    private static readonly bool[] PropagateOne = [true];

    public SPPLayer(LayerParameter param) : base(param) { }

    public override int ExactBottoms => 1;
    public override int ExactTops => 1;

    public override bool CanBackward(int bottomIndex) => Param.SppParam is not { Pool: SPPParameter.Types.PoolMethod.Stochastic } || Phase == Phase.Train;

    public override void LayerSetUp(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        var p = Param.SppParam ?? throw Error("spp_param with pyramid_height is required");
        if (p.PyramidHeight == 0 || p.PyramidHeight > 16) throw Error($"pyramid_height must be between 1 and 16, got {p.PyramidHeight}");
        _levels = (int)p.PyramidHeight;
        _method = p.Pool switch
        {
            SPPParameter.Types.PoolMethod.Max => PoolMethod.Max,
            SPPParameter.Types.PoolMethod.Ave => PoolMethod.Ave,
            SPPParameter.Types.PoolMethod.Stochastic => PoolMethod.Stochastic,
            _ => throw Error($"unknown pooling method {(int)p.Pool}"),
        };
        _pools = new PoolingLayer[_levels];
        _inputs = Enumerable.Range(0, _levels).Select(l => new Blob($"{Name}/in{l}")).ToArray();
        _outputs = Enumerable.Range(0, _levels).Select(l => new Blob($"{Name}/pool{l}")).ToArray();
        _inLists = _inputs.Select(b => new[] { b }).ToArray();
        _outLists = _outputs.Select(b => new[] { b }).ToArray();
    }

    private LayerParameter PoolParam(int level)
    {
        int bins = 1 << level;
        int kh = (_height + bins - 1) / bins, kw = (_width + bins - 1) / bins;
        return new LayerParameter
        {
            Name = $"{Name}/pool{level}",
            Type = "Pooling",
            Phase = Phase,
            PoolingParam = new PoolingParameter
            {
                Pool = _method,
                KernelH = (uint)kh,
                KernelW = (uint)kw,
                StrideH = (uint)kh,
                StrideW = (uint)kw,
                PadH = (uint)((kh * bins - _height + 1) / 2),
                PadW = (uint)((kw * bins - _width + 1) / 2),
            },
        };
    }

    public override void Reshape(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        var b = bottom[0];
        if (b.NumAxes != 4) throw Error($"bottom \"{b.Name}\" is {b.NumAxes}-D {b.ShapeString}; SPP takes 4-D N×C×H×W blobs");
        if (top[0] == b) throw Error("cannot run in place");
        _num = b.Dim(0);
        _channels = b.Dim(1);
        bool rebuild = b.Dim(2) != _height || b.Dim(3) != _width;
        _height = b.Dim(2);
        _width = b.Dim(3);
        long total = 0;
        for (int l = 0; l < _levels; l++)
        {
            _inputs[l].ReshapeLike(b);
            _inputs[l].ShareData(b);
            if (rebuild)
            {
                var pool = new PoolingLayer(PoolParam(l)) { Rng = Rng };
                try { pool.SetUp(_inLists[l], _outLists[l]); }
                catch (EngineException e) { throw Error($"pyramid level {l} does not fit the input {_height}×{_width}: {e.Message}"); }
                _pools[l] = pool;
            }
            else
            {
                _pools[l].Reshape(_inLists[l], _outLists[l]);
            }
            int bins = 1 << l;
            if (_outputs[l].Dim(2) != bins || _outputs[l].Dim(3) != bins)
                throw Error($"pyramid level {l} gives {_outputs[l].Dim(2)}×{_outputs[l].Dim(3)} bins for the input {_height}×{_width}, not {bins}×{bins}");
            total += (long)_channels * bins * bins;
        }
        if (_levels == 1) top[0].Reshape(_num, _channels, 1, 1);
        else top[0].Reshape(_num, checked((int)total));
    }

    public override void Forward(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        var y = top[0].Data;
        int stride = (int)(top[0].Count / Math.Max(1, _num)), offset = 0;
        for (int l = 0; l < _levels; l++)
        {
            _pools[l].Rng = Rng; // stochastic pooling draws from this layer's generator
            _pools[l].Forward(_inLists[l], _outLists[l]);
            int size = (int)(_outputs[l].Count / Math.Max(1, _num));
            for (int n = 0; n < _num; n++)
                _outputs[l].Data.Slice(n * size, size).CopyTo(y.Slice(n * stride + offset, size));
            offset += size;
        }
    }

    public override void Backward(IReadOnlyList<Blob> top, IReadOnlyList<bool> propagateDown, IReadOnlyList<Blob> bottom)
    {
        if (!propagateDown[0]) return;
        ReadOnlySpan<float> dy = top[0].Diff;
        var dx = bottom[0].Diff;
        int stride = (int)(top[0].Count / Math.Max(1, _num)), offset = 0;
        for (int l = 0; l < _levels; l++)
        {
            int size = (int)(_outputs[l].Count / Math.Max(1, _num));
            for (int n = 0; n < _num; n++)
                dy.Slice(n * stride + offset, size).CopyTo(_outputs[l].Diff.Slice(n * size, size));
            offset += size;
            _pools[l].Backward(_outLists[l], PropagateOne, _inLists[l]);
            if (l == 0) _inputs[0].Diff.CopyTo(dx);
            else System.Numerics.Tensors.TensorPrimitives.Add(dx, _inputs[l].Diff, dx);
        }
    }

    // ---- device ----------------------------------------------------------------------------

    /// <summary>MAX and AVE run on a device through the inner Pooling layers' device code (and
    /// copies for the flatten/concatenation); STOCHASTIC stays on the host as Pooling does.</summary>
    public override bool RunsOnDevice => _method != PoolMethod.Stochastic;

    public override void ForwardOn(IBackend backend, IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        var y = top[0].MutableDataOn(backend);
        int stride = (int)(top[0].Count / Math.Max(1, _num)), offset = 0;
        for (int l = 0; l < _levels; l++)
        {
            _pools[l].ForwardOn(backend, _inLists[l], _outLists[l]);
            int size = (int)(_outputs[l].Count / Math.Max(1, _num));
            var level = _outputs[l].DataOn(backend);
            for (int n = 0; n < _num; n++) backend.Copy(level.Slice(n * size, size), y.Slice(n * stride + offset, size));
            offset += size;
        }
    }

    public override void BackwardOn(IBackend backend, IReadOnlyList<Blob> top, IReadOnlyList<bool> propagateDown, IReadOnlyList<Blob> bottom)
    {
        if (!propagateDown[0] || bottom[0].Count == 0) return;
        var dy = top[0].DiffOn(backend);
        var dx = bottom[0].MutableDiffOn(backend);
        int stride = (int)(top[0].Count / Math.Max(1, _num)), offset = 0;
        for (int l = 0; l < _levels; l++)
        {
            int size = (int)(_outputs[l].Count / Math.Max(1, _num));
            var level = _outputs[l].MutableDiffOn(backend);
            for (int n = 0; n < _num; n++) backend.Copy(dy.Slice(n * stride + offset, size), level.Slice(n * size, size));
            offset += size;
            _pools[l].BackwardOn(backend, _outLists[l], PropagateOne, _inLists[l]);
            var levelDx = _inputs[l].DiffOn(backend);
            if (l == 0) backend.Copy(levelDx, dx);
            else backend.Add(dx, levelDx, dx);
        }
    }
}
