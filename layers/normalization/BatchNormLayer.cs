using System.Numerics;
using System.Numerics.Tensors;
using Engine.Backends;
using Engine.Cpu;
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
/// <para>Followed at once by a per-channel Scale in place on its top (every ResNet), the net pairs
/// the two (<see cref="Graph.BatchNormScaleFusion"/>): on the CPU this layer's forward then writes
/// the Scale's output s·x̂ + b itself and the Scale's forward does nothing; in backward the Scale
/// takes Σdy and Σdy·x̂ per channel for its gradients and leaves dx to this layer, which folds
/// s into its own pass: five passes over the activations instead of eight forward, four instead
/// of six backward, and no copy of x̂ kept by the Scale.</para>
/// </remarks>
[LayerType("BatchNorm")]
public sealed class BatchNormLayer : Layer
{
    private bool _useGlobal;
    private float _fraction, _eps;
    private int _num, _channels, _spatial;
    private float[] _mean = [], _invStd = [];
    private float[] _xNorm = [];
    // The in-place Scale that follows, when the net paired them (null otherwise).
    private ScaleLayer? _affine;
    // Device counterparts: per-channel mean, variance, 1/std and the backward means; the normalised values.
    private readonly DeviceBuffer _dMean = new(), _dVar = new(), _dInvStd = new(), _dMeanDy = new(), _dMeanDyY = new(), _dXNorm = new();

    public BatchNormLayer(LayerParameter param) : base(param) { }

    public override int ExactBottoms => 1;
    public override int ExactTops => 1;

    public override bool IsLearnable(int blobIndex) => false;

    /// <summary>Pairs this layer with the per-channel Scale in place on its top that runs right after it.</summary>
    internal void FuseWith(ScaleLayer scale) => _affine = scale;

    /// <summary>The Scale this layer runs with, if the net paired them.</summary>
    internal ScaleLayer? FusedScale => _affine;

    /// <summary>Whether the stored statistics normalise (then dx does not need the batch sums).</summary>
    internal bool UsesGlobalStats => _useGlobal;

    /// <summary>x̂ from the last forward, batch-major like the bottom.</summary>
    internal ReadOnlySpan<float> Normalized(int count) => _xNorm.AsSpan(0, count);

    /// <summary>Channels, images and values per image-channel of the last reshape.</summary>
    internal (int Num, int Channels, int Spatial) Geometry => (_num, _channels, _spatial);

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
        }
        if (_xNorm.Length < b.Count) _xNorm = new float[b.Count];
    }

    public override void Forward(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        int c = _channels;
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
            var scale = Blobs[2].Data;
            scale[0] = scale[0] * _fraction + 1;
        }
        // Paired with the Scale that follows: write its output, s·x̂ + b, and tell it so.
        var affine = _affine != null && _affine.TakeForwardFromBatchNorm() ? _affine : null;
        // Channels are independent: each task computes its channel's statistics (batch mode) and
        // normalises it, so the results do not depend on the thread count.
        WorkerPool.For(c, (Layer: this, Bottom: bottom[0], Top: top[0], Affine: affine),
            static (ch, st) => st.Layer.ForwardChannel(ch, st.Bottom, st.Top, st.Affine));
    }

    private void ForwardChannel(int ch, Blob bottom, Blob top, ScaleLayer? affine)
    {
        ReadOnlySpan<float> x = bottom.Data;
        var y = top.Data;
        int c = _channels, sp = _spatial, n = _num;
        long m = (long)n * sp;
        if (!_useGlobal)
        {
            double sum = 0;
            for (int i = 0; i < n; i++) sum += TensorPrimitives.Sum(x.Slice((i * c + ch) * sp, sp));
            double mean = m > 0 ? sum / m : 0;
            double sq = 0;
            for (int i = 0; i < n; i++) sq += SquaredDeviations(x.Slice((i * c + ch) * sp, sp), (float)mean);
            double variance = m > 0 ? sq / m : 0;
            double correction = m > 1 ? (double)m / (m - 1) : 1;
            _mean[ch] = (float)mean;
            _invStd[ch] = (float)(1 / Math.Sqrt(variance + _eps));
            var meanSum = Blobs[0].Data;
            var varSum = Blobs[1].Data;
            meanSum[ch] = (float)(meanSum[ch] * (double)_fraction + mean);
            varSum[ch] = (float)(varSum[ch] * (double)_fraction + correction * variance);
        }
        float mu = _mean[ch], inv = _invStd[ch];
        for (int i = 0; i < n; i++)
        {
            int o = (i * c + ch) * sp;
            // Backward needs the normalised values; a later in-place layer may overwrite the top.
            // Unpaired, y = x̂·1 + 0 = x̂ exactly.
            Normalize(x.Slice(o, sp), mu, inv, affine?.ScaleOf(ch) ?? 1f, affine?.BiasOf(ch) ?? 0f, _xNorm.AsSpan(o, sp), y.Slice(o, sp));
        }
    }

    /// <summary>norm = (x − mu)·inv and y = norm·scale + shift in one pass (y may be x; the paired
    /// Scale's forward with the same float arithmetic it would do); TensorPrimitives would take
    /// several, and this is the pass that reads the channel from memory.</summary>
    private static void Normalize(ReadOnlySpan<float> x, float mu, float inv, float scale, float shift, Span<float> norm, Span<float> y)
    {
        var vm = new Vector<float>(mu);
        var vi = new Vector<float>(inv);
        var vs = new Vector<float>(scale);
        var vb = new Vector<float>(shift);
        int n = Vector<float>.Count, j = 0;
        for (; j <= x.Length - n; j += n)
        {
            var v = (new Vector<float>(x.Slice(j)) - vm) * vi;
            v.CopyTo(norm.Slice(j));
            (v * vs + vb).CopyTo(y.Slice(j));
        }
        for (; j < x.Length; j++)
        {
            float v = (x[j] - mu) * inv;
            norm[j] = v;
            y[j] = v * scale + shift;
        }
    }

    /// <summary>Σ (x − mean)², in float vectors over blocks of 1,024 values and in double across them.</summary>
    private static double SquaredDeviations(ReadOnlySpan<float> x, float mean)
    {
        double total = 0;
        var mu = new Vector<float>(mean);
        for (int start = 0; start < x.Length; start += 1024)
        {
            var block = x.Slice(start, Math.Min(1024, x.Length - start));
            var acc = Vector<float>.Zero;
            int j = 0;
            for (; j <= block.Length - Vector<float>.Count; j += Vector<float>.Count)
            {
                var d = new Vector<float>(block.Slice(j)) - mu;
                acc += d * d;
            }
            double part = Vector.Sum(acc);
            for (; j < block.Length; j++)
            {
                double d = block[j] - mean;
                part += d * d;
            }
            total += part;
        }
        return total;
    }

    public override bool RunsOnDevice => true;

    /// <summary>The host arithmetic as channel reductions and maps: batch mean, variance about it,
    /// the statistics update and the normalisation (the normalised values kept for backward).</summary>
    public override void ForwardOn(IBackend backend, IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        int c = _channels, sp = _spatial, n = _num;
        long m = (long)n * sp;
        var mean = _dMean.On(backend, c);
        var invStd = _dInvStd.On(backend, c);
        var x = bottom[0].DataOn(backend);
        if (_useGlobal)
            backend.BatchNormGlobalStatistics(c, _eps, Blobs[0].DataOn(backend), Blobs[1].DataOn(backend), Blobs[2].DataOn(backend), mean, invStd);
        else
        {
            var variance = _dVar.On(backend, c);
            float perValue = m > 0 ? (float)(1.0 / m) : 0f;
            backend.ChannelSum(ChannelReduction.Sum, n, c, sp, x, null, perValue, 0f, mean);
            backend.ChannelSum(ChannelReduction.SquaredDeviation, n, c, sp, x, mean, perValue, 0f, variance);
            backend.BatchNormStatistics(c, m, _eps, _fraction, mean, variance, invStd,
                Blobs[0].MutableDataOn(backend), Blobs[1].MutableDataOn(backend), Blobs[2].MutableDataOn(backend));
        }
        backend.ChannelNormalize(n, c, sp, x, mean, invStd, top[0].MutableDataOn(backend), _dXNorm.On(backend, bottom[0].Count));
    }

    public override void BackwardOn(IBackend backend, IReadOnlyList<Blob> top, IReadOnlyList<bool> propagateDown, IReadOnlyList<Blob> bottom)
    {
        if (!propagateDown[0]) return;
        int c = _channels, sp = _spatial, n = _num;
        var invStd = _dInvStd.On(backend, c);
        var dy = top[0].DiffOn(backend);
        if (_useGlobal)
        {
            backend.ChannelAffine(n, c, sp, dy, invStd, null, bottom[0].MutableDiffOn(backend));
            return;
        }
        long m = (long)n * sp;
        float perValue = m > 0 ? (float)(1.0 / m) : 0f;
        var y = _dXNorm.On(backend, top[0].Count);
        var meanDy = _dMeanDy.On(backend, c);
        var meanDyY = _dMeanDyY.On(backend, c);
        // The sums come before dx is written, so dx may be dy (in place).
        backend.ChannelSum(ChannelReduction.Sum, n, c, sp, dy, null, perValue, 0f, meanDy);
        backend.ChannelSum(ChannelReduction.Dot, n, c, sp, dy, y, perValue, 0f, meanDyY);
        backend.NormalizeBackward(n, c, sp, dy, y, meanDy, meanDyY, invStd, bottom[0].MutableDiffOn(backend));
    }

    public override void Backward(IReadOnlyList<Blob> top, IReadOnlyList<bool> propagateDown, IReadOnlyList<Blob> bottom)
    {
        if (!propagateDown[0]) return;
        // dx = (dy − mean(dy) − mean(dy·y)·y) / √(σ² + eps) per channel (with global statistics,
        // dy / √(σ² + eps)); each channel's sums come before its writes, so dx may be dy (in place).
        // Paired with the Scale: top's diff is still the Scale's dy, and the Scale has left its
        // per-channel Σdy and Σdy·x̂ (dx of the pair = s·inv·(dy − mean dy − mean(dy·x̂)·x̂)).
        var affine = _affine != null && _affine.TakeGradientForBatchNorm() ? _affine : null;
        WorkerPool.For(_channels, (Layer: this, Top: top[0], Bottom: bottom[0], Affine: affine),
            static (ch, st) => st.Layer.BackwardChannel(ch, st.Top, st.Bottom, st.Affine));
    }

    private void BackwardChannel(int ch, Blob top, Blob bottom, ScaleLayer? affine)
    {
        ReadOnlySpan<float> dy = top.Diff;
        var dx = bottom.Diff;
        ReadOnlySpan<float> y = _xNorm.AsSpan(0, dy.Length);
        int c = _channels, sp = _spatial, n = _num;
        float inv = _invStd[ch];
        if (affine != null) inv *= affine.ScaleOf(ch);
        if (_useGlobal)
        {
            for (int i = 0; i < n; i++)
            {
                int o = (i * c + ch) * sp;
                TensorPrimitives.Multiply(dy.Slice(o, sp), inv, dx.Slice(o, sp));
            }
            return;
        }
        long m = (long)n * sp;
        double a = 0, b = 0;
        if (affine != null) (a, b) = affine.FusedSums(ch);
        else
            for (int i = 0; i < n; i++)
            {
                int o = (i * c + ch) * sp;
                var (sum, dot) = SumAndDot(dy.Slice(o, sp), y.Slice(o, sp));
                a += sum;
                b += dot;
            }
        float meanDy = m > 0 ? (float)(a / m) : 0, meanDyY = m > 0 ? (float)(b / m) : 0;
        for (int i = 0; i < n; i++)
        {
            int o = (i * c + ch) * sp;
            NormalizeBackward(dy.Slice(o, sp), y.Slice(o, sp), meanDy, meanDyY, inv, dx.Slice(o, sp));
        }
    }

    /// <summary>(Σ dy, Σ dy·y) in one pass (TensorPrimitives' Sum and Dot would read dy twice): float
    /// vectors over blocks of 1,024 values, double across them.</summary>
    internal static (double Sum, double Dot) SumAndDot(ReadOnlySpan<float> dy, ReadOnlySpan<float> y)
    {
        double sum = 0, dot = 0;
        int n = Vector<float>.Count;
        for (int start = 0; start < dy.Length; start += 1024)
        {
            int end = Math.Min(start + 1024, dy.Length), j = start;
            Vector<float> s0 = Vector<float>.Zero, s1 = Vector<float>.Zero, d0 = Vector<float>.Zero, d1 = Vector<float>.Zero;
            for (; j <= end - 2 * n; j += 2 * n)
            {
                var g0 = new Vector<float>(dy.Slice(j));
                var g1 = new Vector<float>(dy.Slice(j + n));
                s0 += g0;
                s1 += g1;
                d0 += g0 * new Vector<float>(y.Slice(j));
                d1 += g1 * new Vector<float>(y.Slice(j + n));
            }
            double ps = Vector.Sum(s0 + s1), pd = Vector.Sum(d0 + d1);
            for (; j < end; j++)
            {
                ps += dy[j];
                pd += (double)dy[j] * y[j];
            }
            sum += ps;
            dot += pd;
        }
        return (sum, dot);
    }

    /// <summary>dx = (dy − meanDy − meanDyY·y)·inv in one pass (dx may be dy), where TensorPrimitives
    /// would take three.</summary>
    private static void NormalizeBackward(ReadOnlySpan<float> dy, ReadOnlySpan<float> y, float meanDy, float meanDyY, float inv, Span<float> dx)
    {
        var vm = new Vector<float>(meanDy);
        var vk = new Vector<float>(meanDyY);
        var vi = new Vector<float>(inv);
        int n = Vector<float>.Count, j = 0;
        for (; j <= dy.Length - n; j += n)
            ((new Vector<float>(dy.Slice(j)) - vk * new Vector<float>(y.Slice(j)) - vm) * vi).CopyTo(dx.Slice(j));
        for (; j < dy.Length; j++) dx[j] = (dy[j] - meanDyY * y[j] - meanDy) * inv;
    }
}
