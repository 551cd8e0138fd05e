using System.Numerics.Tensors;
using Engine.Backends;
using Engine.Core;
using Engine.Proto;

namespace Engine.Layers;

/// <summary>
/// Caffe's "MVN": subtracts the mean of each channel of each image (of each image with
/// across_channels) and, with normalize_variance (default), divides by the standard deviation
/// plus eps: y = (x − μ) / (σ + eps), σ the biased deviation, eps (default 1e-9) added after the
/// root. Backward as Caffe: dx = (dy − mean(dy) − y·mean(dy·y)) / (σ + eps), or dy − mean(dy).
/// </summary>
[LayerType("MVN")]
public sealed class MVNLayer : Layer
{
    private bool _normalizeVariance, _acrossChannels;
    private float _eps;
    private int _groups, _dim;
    private float[] _scale = [];
    private float[] _y = [];
    // Device counterparts: per-group mean, variance, scale and backward means; y for backward.
    private readonly DeviceBuffer _dMean = new(), _dVar = new(), _dScale = new(), _dMeanDy = new(), _dMeanDyY = new(), _dY = new();

    public MVNLayer(LayerParameter param) : base(param) { }

    public override int ExactBottoms => 1;
    public override int ExactTops => 1;

    public override void LayerSetUp(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        var p = Param.MvnParam ?? new MVNParameter();
        _normalizeVariance = p.NormalizeVariance;
        _acrossChannels = p.AcrossChannels;
        _eps = p.Eps;
    }

    public override void Reshape(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        var b = bottom[0];
        if (b.NumAxes < 1) throw Error($"bottom \"{b.Name}\" is a scalar; MVN needs N×C×…");
        _groups = _acrossChannels || b.NumAxes < 2 ? b.Dim(0) : b.Dim(0) * b.Dim(1);
        _dim = _groups == 0 ? 0 : (int)(b.Count / _groups);
        if (top[0] != b) top[0].ReshapeLike(b);
        if (_scale.Length < _groups) _scale = new float[_groups];
        if (_normalizeVariance && _y.Length < b.Count) _y = new float[b.Count];
    }

    public override void Forward(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        ReadOnlySpan<float> x = bottom[0].Data;
        var y = top[0].Data;
        int dim = _dim;
        for (int g = 0; g < _groups; g++)
        {
            var xs = x.Slice(g * dim, dim);
            var ys = y.Slice(g * dim, dim);
            float mean = (float)((double)TensorPrimitives.Sum(xs) / dim);
            TensorPrimitives.Subtract(xs, mean, ys);
            if (!_normalizeVariance) continue;
            double sq = 0;
            for (int i = 0; i < dim; i++) sq += (double)ys[i] * ys[i];
            float inv = (float)(1 / (Math.Sqrt(sq / dim) + _eps));
            _scale[g] = inv;
            TensorPrimitives.Multiply(ys, inv, ys);
        }
        // Backward needs y; a later in-place layer may overwrite the top.
        if (_normalizeVariance) y.CopyTo(_y);
    }

    public override void Backward(IReadOnlyList<Blob> top, IReadOnlyList<bool> propagateDown, IReadOnlyList<Blob> bottom)
    {
        if (!propagateDown[0]) return;
        ReadOnlySpan<float> dy = top[0].Diff;
        var dx = bottom[0].Diff;
        int dim = _dim;
        for (int g = 0; g < _groups; g++)
        {
            var dys = dy.Slice(g * dim, dim);
            var dxs = dx.Slice(g * dim, dim);
            float meanDy = (float)((double)TensorPrimitives.Sum(dys) / dim);
            if (!_normalizeVariance)
            {
                TensorPrimitives.Subtract(dys, meanDy, dxs);
                continue;
            }
            ReadOnlySpan<float> ys = _y.AsSpan(g * dim, dim);
            float meanDyY = (float)((double)TensorPrimitives.Dot(dys, ys) / dim);
            float inv = _scale[g];
            for (int i = 0; i < dim; i++) dxs[i] = (dys[i] - meanDy - meanDyY * ys[i]) * inv;
        }
    }

    public override bool RunsOnDevice => true;

    /// <summary>Each group is one channel of a 1 × groups × dim array: its mean, the variance about
    /// it and the normalisation are channel reductions and maps.</summary>
    public override void ForwardOn(IBackend backend, IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        if (_groups == 0 || _dim == 0) return;
        var x = bottom[0].DataOn(backend);
        var y = top[0].MutableDataOn(backend);
        var mean = _dMean.On(backend, _groups);
        float perValue = 1f / _dim;
        backend.ChannelSum(ChannelReduction.Sum, 1, _groups, _dim, x, null, perValue, 0f, mean);
        if (!_normalizeVariance)
        {
            backend.ChannelNormalize(1, _groups, _dim, x, mean, null, y);
            return;
        }
        var variance = _dVar.On(backend, _groups);
        var scale = _dScale.On(backend, _groups);
        backend.ChannelSum(ChannelReduction.SquaredDeviation, 1, _groups, _dim, x, mean, perValue, 0f, variance);
        backend.MvnInverseDeviation(_eps, variance, scale);
        backend.ChannelNormalize(1, _groups, _dim, x, mean, scale, y, _dY.On(backend, y.Count));
    }

    public override void BackwardOn(IBackend backend, IReadOnlyList<Blob> top, IReadOnlyList<bool> propagateDown, IReadOnlyList<Blob> bottom)
    {
        if (!propagateDown[0] || _groups == 0 || _dim == 0) return;
        var dy = top[0].DiffOn(backend);
        var meanDy = _dMeanDy.On(backend, _groups);
        float perValue = 1f / _dim;
        backend.ChannelSum(ChannelReduction.Sum, 1, _groups, _dim, dy, null, perValue, 0f, meanDy);
        if (!_normalizeVariance)
        {
            backend.ChannelNormalize(1, _groups, _dim, dy, meanDy, null, bottom[0].MutableDiffOn(backend));
            return;
        }
        var y = _dY.On(backend, dy.Count);
        var meanDyY = _dMeanDyY.On(backend, _groups);
        backend.ChannelSum(ChannelReduction.Dot, 1, _groups, _dim, dy, y, perValue, 0f, meanDyY);
        backend.NormalizeBackward(1, _groups, _dim, dy, y, meanDy, meanDyY, _dScale.On(backend, _groups), bottom[0].MutableDiffOn(backend));
    }
}
