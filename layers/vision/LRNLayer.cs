using Engine.Backends;
using Engine.Core;
using Engine.Proto;
using NormRegion = Engine.Proto.LRNParameter.Types.NormRegion;

namespace Engine.Layers;

/// <summary>
/// Caffe's "LRN", local response normalisation of N×C×H×W. ACROSS_CHANNELS:
/// y = x·(k + α/n·Σx²)^−β, the sum over the n channels centred on the channel (zero beyond the
/// edges). WITHIN_CHANNEL: y = x·(1 + α·avg(x²))^−β, avg over the n×n window centred on the pixel
/// with zero padding, always divided by n² (k is not used). local_size n must be odd.
/// </summary>
[LayerType("LRN")]
public sealed class LRNLayer : Layer
{
    private int _size, _pre;
    private float _alpha, _beta, _k;
    private bool _within;
    private int _num, _channels, _height, _width;
    private float[] _scale = [];
    private float[] _tmp = [];

    public LRNLayer(LayerParameter param) : base(param) { }

    public override int ExactBottoms => 1;
    public override int ExactTops => 1;

    public override void LayerSetUp(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        var p = Param.LrnParam ?? new LRNParameter();
        if (p.LocalSize == 0 || p.LocalSize % 2 == 0 || p.LocalSize > 1 << 16)
            throw Error($"local_size must be odd and positive, got {p.LocalSize}");
        _size = (int)p.LocalSize;
        _pre = (_size - 1) / 2;
        _alpha = p.Alpha;
        _beta = p.Beta;
        _k = p.K;
        _within = p.NormRegion == NormRegion.WithinChannel;
        if (!_within && p.NormRegion != NormRegion.AcrossChannels) throw Error($"unknown norm_region {(int)p.NormRegion}");
    }

    public override void Reshape(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        var b = bottom[0];
        if (b.NumAxes != 4) throw Error($"bottom \"{b.Name}\" is {b.NumAxes}-D {b.ShapeString}; LRN takes 4-D N×C×H×W blobs");
        if (top[0] == b) throw Error("cannot run in place (backward needs its input)");
        _num = b.Dim(0);
        _channels = b.Dim(1);
        _height = b.Dim(2);
        _width = b.Dim(3);
        top[0].ReshapeLike(b);
        if (_scale.Length < b.Count) _scale = new float[b.Count];
        if (_within && _tmp.Length < _height * _width) _tmp = new float[_height * _width];
    }

    public override void Forward(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        ReadOnlySpan<float> x = bottom[0].Data;
        var y = top[0].Data;
        var scale = _scale.AsSpan(0, x.Length);
        int plane = _height * _width;
        if (_within)
        {
            // scale = 1 + α/n²·boxsum(x²), separable: rows into _tmp, then columns.
            float a = _alpha / (_size * _size);
            for (int pl = 0; pl < _num * _channels; pl++)
            {
                var src = x.Slice(pl * plane, plane);
                var dst = scale.Slice(pl * plane, plane);
                for (int i = 0; i < plane; i++) dst[i] = src[i] * src[i];
                BoxSumInPlace(dst);
                for (int i = 0; i < plane; i++) dst[i] = 1 + a * dst[i];
            }
        }
        else
        {
            float a = _alpha / _size;
            for (int n = 0; n < _num; n++)
            {
                var xs = x.Slice(n * _channels * plane, _channels * plane);
                var ss = scale.Slice(n * _channels * plane, _channels * plane);
                for (int c = 0; c < _channels; c++)
                {
                    var s = ss.Slice(c * plane, plane);
                    s.Fill(0);
                    int lo = Math.Max(0, c - _pre), hi = Math.Min(_channels - 1, c + _pre);
                    for (int j = lo; j <= hi; j++)
                    {
                        var xj = xs.Slice(j * plane, plane);
                        for (int i = 0; i < plane; i++) s[i] += xj[i] * xj[i];
                    }
                    for (int i = 0; i < plane; i++) s[i] = _k + a * s[i];
                }
            }
        }
        for (int i = 0; i < x.Length; i++) y[i] = x[i] * MathF.Pow(scale[i], -_beta);
    }

    public override void Backward(IReadOnlyList<Blob> top, IReadOnlyList<bool> propagateDown, IReadOnlyList<Blob> bottom)
    {
        if (!propagateDown[0]) return;
        ReadOnlySpan<float> x = bottom[0].Data;
        ReadOnlySpan<float> y = top[0].Data;
        ReadOnlySpan<float> dy = top[0].Diff;
        var dx = bottom[0].Diff;
        var scale = _scale.AsSpan(0, x.Length);
        int plane = _height * _width;
        // dx = dy·scale^−β − (2αβ/n')·x·Σ_window(dy·y/scale), n' = n (across) or n² (within).
        // First dx holds r = dy·y/scale, then the window sums of r replace it.
        float coeff = 2 * _alpha * _beta / (_within ? _size * _size : _size);
        if (_within)
        {
            for (int pl = 0; pl < _num * _channels; pl++)
            {
                int o = pl * plane;
                var r = dx.Slice(o, plane);
                for (int i = 0; i < plane; i++) r[i] = dy[o + i] * y[o + i] / scale[o + i];
                BoxSumInPlace(r);
                for (int i = 0; i < plane; i++)
                    r[i] = dy[o + i] * MathF.Pow(scale[o + i], -_beta) - coeff * x[o + i] * r[i];
            }
            return;
        }
        for (int n = 0; n < _num; n++)
        {
            int o = n * _channels * plane;
            // Per pixel, a sliding sum of r over channels; r is computed on the fly.
            for (int i = 0; i < plane; i++)
            {
                float acc = 0;
                for (int j = 0; j <= Math.Min(_pre, _channels - 1); j++)
                {
                    int q = o + j * plane + i;
                    acc += dy[q] * y[q] / scale[q];
                }
                for (int c = 0; c < _channels; c++)
                {
                    int q = o + c * plane + i;
                    dx[q] = dy[q] * MathF.Pow(scale[q], -_beta) - coeff * x[q] * acc;
                    int add = c + _pre + 1, remove = c - _pre;
                    if (add < _channels)
                    {
                        int qa = o + add * plane + i;
                        acc += dy[qa] * y[qa] / scale[qa];
                    }
                    if (remove >= 0)
                    {
                        int qr = o + remove * plane + i;
                        acc -= dy[qr] * y[qr] / scale[qr];
                    }
                }
            }
        }
    }

    // ---- device ----------------------------------------------------------------------------

    // The forward's scale on the device, kept for backward.
    private readonly DeviceBuffer _deviceScale = new();

    /// <summary>Both regions run on a device (one work-item per element gathers its window).</summary>
    public override bool RunsOnDevice => true;

    private LrnShape DeviceShape => new(_num, _channels, _height, _width, _size, _alpha, _beta, _k, _within);

    public override void ForwardOn(IBackend backend, IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top) =>
        backend.LrnForward(DeviceShape, bottom[0].DataOn(backend), _deviceScale.On(backend, (int)bottom[0].Count),
            top[0].MutableDataOn(backend));

    public override void BackwardOn(IBackend backend, IReadOnlyList<Blob> top, IReadOnlyList<bool> propagateDown, IReadOnlyList<Blob> bottom)
    {
        if (!propagateDown[0]) return;
        backend.LrnBackward(DeviceShape, bottom[0].DataOn(backend), top[0].DataOn(backend),
            _deviceScale.On(backend, (int)bottom[0].Count), top[0].DiffOn(backend), bottom[0].MutableDiffOn(backend));
    }

    /// <summary>Replaces one plane by its n×n box sum (zero padded, centred).</summary>
    private void BoxSumInPlace(Span<float> plane)
    {
        var rows = _tmp.AsSpan(0, _height * _width);
        for (int h = 0; h < _height; h++)
            for (int w = 0; w < _width; w++)
            {
                float s = 0;
                int lo = Math.Max(0, w - _pre), hi = Math.Min(_width - 1, w + _pre);
                for (int j = lo; j <= hi; j++) s += plane[h * _width + j];
                rows[h * _width + w] = s;
            }
        for (int h = 0; h < _height; h++)
        {
            int lo = Math.Max(0, h - _pre), hi = Math.Min(_height - 1, h + _pre);
            for (int w = 0; w < _width; w++)
            {
                float s = 0;
                for (int j = lo; j <= hi; j++) s += rows[j * _width + w];
                plane[h * _width + w] = s;
            }
        }
    }
}
