using System.Numerics.Tensors;
using Engine.Core;
using Engine.Proto;

namespace Engine.Layers;

/// <summary>
/// Caffe's "BatchNorm": y = (x − μ) / √(σ² + eps) per channel (axis 1; a 1-D bottom is one
/// channel), over the batch and spatial positions. No affine part (follow it with Scale).
/// </summary>
/// <remarks>
/// Three blobs hold the statistics as Caffe stores them, so BVLC-trained weights load: the running
/// mean sum, the running variance sum and a one-element scale factor s; the statistics are
/// sum / s (0 when s is 0). In training (use_global_stats false, the default in TRAIN) the batch
/// statistics normalise (biased variance) and each forward updates s ← λs + 1,
/// mean ← λ·mean + μ, var ← λ·var + m/(m−1)·σ² (m values per channel, λ =
/// moving_average_fraction). With use_global_stats (the default in TEST) the stored statistics
/// normalise. The blobs are never learned (<see cref="IsLearnable"/> is false: lr_mult 0).
/// </remarks>
[LayerType("BatchNorm")]
public sealed class BatchNormLayer : Layer
{
    private bool _useGlobal;
    private float _fraction, _eps;
    private int _num, _channels, _spatial;
    private float[] _mean = [], _invStd = [], _sumDy = [], _sumDyY = [];
    private float[] _xNorm = [];

    public BatchNormLayer(LayerParameter param) : base(param) { }

    public override int ExactBottoms => 1;
    public override int ExactTops => 1;

    public override bool IsLearnable(int blobIndex) => false;

    public override void LayerSetUp(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        var p = Param.BatchNormParam ?? new BatchNormParameter();
        _useGlobal = p.HasUseGlobalStats ? p.UseGlobalStats : Phase == Phase.Test;
        _fraction = p.MovingAverageFraction;
        _eps = p.Eps;
        if (_eps < 0) throw Error($"eps must not be negative, got {_eps}");
        _channels = bottom[0].NumAxes == 1 ? 1 : bottom[0].Dim(1);
        if (Blobs.Count > 0)
        {
            if (Blobs.Count != 3) throw Error($"has {Blobs.Count} blobs, expected 3 (mean sum, variance sum, scale factor)");
            if (Blobs[0].Count != _channels || Blobs[1].Count != _channels || Blobs[2].Count != 1)
                throw Error($"blob shapes {Blobs[0].ShapeString}, {Blobs[1].ShapeString}, {Blobs[2].ShapeString} do not match {_channels} channels");
        }
        else
        {
            Blobs.Add(new Blob("", _channels));
            Blobs.Add(new Blob("", _channels));
            Blobs.Add(new Blob("", 1));
        }
        ParamPropagateDown = new bool[3];
    }

    public override void Reshape(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        var b = bottom[0];
        if (b.NumAxes < 1) throw Error($"bottom \"{b.Name}\" is a scalar; BatchNorm needs N×C×…");
        int channels = b.NumAxes == 1 ? 1 : b.Dim(1);
        if (channels != _channels)
            throw Error($"bottom \"{b.Name}\" has {channels} channels but the statistics were made for {_channels}");
        _num = b.Dim(0);
        _spatial = b.NumAxes > 2 ? (int)b.CountFrom(2) : 1;
        if (top[0] != b) top[0].ReshapeLike(b);
        if (_mean.Length < _channels)
        {
            _mean = new float[_channels];
            _invStd = new float[_channels];
            _sumDy = new float[_channels];
            _sumDyY = new float[_channels];
        }
        if (_xNorm.Length < b.Count) _xNorm = new float[b.Count];
    }

    public override void Forward(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        ReadOnlySpan<float> x = bottom[0].Data;
        var y = top[0].Data;
        int c = _channels, sp = _spatial, n = _num;
        long m = (long)n * sp;
        if (_useGlobal)
        {
            float s = Blobs[2].Data[0];
            float factor = s == 0 ? 0 : 1 / s;
            for (int ch = 0; ch < c; ch++)
            {
                _mean[ch] = factor * Blobs[0].Data[ch];
                _invStd[ch] = (float)(1 / Math.Sqrt(factor * Blobs[1].Data[ch] + _eps));
            }
        }
        else
        {
            var meanSum = Blobs[0].Data;
            var varSum = Blobs[1].Data;
            var scale = Blobs[2].Data;
            scale[0] = scale[0] * _fraction + 1;
            double correction = m > 1 ? (double)m / (m - 1) : 1;
            for (int ch = 0; ch < c; ch++)
            {
                double sum = 0;
                for (int i = 0; i < n; i++) sum += TensorPrimitives.Sum(x.Slice((i * c + ch) * sp, sp));
                double mean = m > 0 ? sum / m : 0;
                double sq = 0;
                for (int i = 0; i < n; i++)
                {
                    var row = x.Slice((i * c + ch) * sp, sp);
                    for (int j = 0; j < row.Length; j++)
                    {
                        double d = row[j] - mean;
                        sq += d * d;
                    }
                }
                double variance = m > 0 ? sq / m : 0;
                _mean[ch] = (float)mean;
                _invStd[ch] = (float)(1 / Math.Sqrt(variance + _eps));
                meanSum[ch] = (float)(meanSum[ch] * (double)_fraction + mean);
                varSum[ch] = (float)(varSum[ch] * (double)_fraction + correction * variance);
            }
        }
        for (int i = 0; i < n; i++)
            for (int ch = 0; ch < c; ch++)
            {
                int o = (i * c + ch) * sp;
                float mu = _mean[ch], inv = _invStd[ch];
                for (int j = o; j < o + sp; j++) y[j] = (x[j] - mu) * inv;
            }
        // Backward needs y; a later in-place layer may overwrite the top.
        y.CopyTo(_xNorm);
    }

    public override void Backward(IReadOnlyList<Blob> top, IReadOnlyList<bool> propagateDown, IReadOnlyList<Blob> bottom)
    {
        if (!propagateDown[0]) return;
        ReadOnlySpan<float> dy = top[0].Diff;
        var dx = bottom[0].Diff;
        ReadOnlySpan<float> y = _xNorm.AsSpan(0, dy.Length);
        int c = _channels, sp = _spatial, n = _num;
        if (_useGlobal)
        {
            for (int i = 0; i < n; i++)
                for (int ch = 0; ch < c; ch++)
                {
                    int o = (i * c + ch) * sp;
                    TensorPrimitives.Multiply(dy.Slice(o, sp), _invStd[ch], dx.Slice(o, sp));
                }
            return;
        }
        // dx = (dy − mean(dy) − mean(dy·y)·y) / √(σ² + eps), per channel; the sums come first,
        // so dx may be the same memory as dy (in place).
        long m = (long)n * sp;
        for (int ch = 0; ch < c; ch++)
        {
            double a = 0, b = 0;
            for (int i = 0; i < n; i++)
            {
                int o = (i * c + ch) * sp;
                a += TensorPrimitives.Sum(dy.Slice(o, sp));
                b += TensorPrimitives.Dot(dy.Slice(o, sp), y.Slice(o, sp));
            }
            _sumDy[ch] = m > 0 ? (float)(a / m) : 0;
            _sumDyY[ch] = m > 0 ? (float)(b / m) : 0;
        }
        for (int i = 0; i < n; i++)
            for (int ch = 0; ch < c; ch++)
            {
                int o = (i * c + ch) * sp;
                float meanDy = _sumDy[ch], meanDyY = _sumDyY[ch], inv = _invStd[ch];
                for (int j = o; j < o + sp; j++) dx[j] = (dy[j] - meanDy - meanDyY * y[j]) * inv;
            }
    }
}
