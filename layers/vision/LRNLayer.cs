using System.Numerics.Tensors;
using System.Runtime.Intrinsics;
using Engine.Backends;
using Engine.Cpu;
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
    private float[] _ring = [];

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
        // Backward across channels: per image, local_size planes of the window's ratios, the window
        // sum and the power (a few planes per image; the blob has _channels).
        long ring = _within ? 0 : (long)_num * (RingSlots + 2) * _height * _width;
        if (_ring.Length < ring) _ring = new float[checked((int)ring)];
    }

    public override void Forward(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        if (_within)
        {
            // Planes are independent: blocks of them in parallel, each with its own scratch.
            int blocks = WithinBlocks();
            WorkerPool.For(blocks, (Layer: this, X: bottom[0], Y: top[0], blocks), static (b, st) =>
                st.Layer.WithinPlanes(b, st.blocks, st.X.Data, st.Y.Data, default, default));
            return;
        }
        // Across channels, images and channels are independent: each (image, channel) plane's
        // scale is the sum of its window's squares, in window order, then y = x·scale^−β.
        WorkerPool.For(_num * _channels, (Layer: this, X: bottom[0], Y: top[0]), static (i, st) => st.Layer.ForwardAcross(i, st.X.Data, st.Y.Data));
    }

    /// <summary>How many blocks of planes the within-channel passes cut into (at most one per
    /// thread), with two planes of scratch each in _tmp (grown only when the thread count grows).</summary>
    private int WithinBlocks()
    {
        int planes = _num * _channels, plane = _height * _width;
        int blocks = Math.Max(1, Math.Min(planes, WorkerPool.Threads));
        if (_tmp.Length < 2L * blocks * plane) _tmp = new float[checked(2 * blocks * plane)];
        return blocks;
    }

    /// <summary>Within-channel LRN for block <paramref name="b"/> of <paramref name="blocks"/>:
    /// forward (dy empty): scale = 1 + α/n²·boxsum(x²), y = x·scale^−β; backward:
    /// dx = dy·scale^−β − coeff·x·boxsum(dy·y/scale).</summary>
    private void WithinPlanes(int b, int blocks, ReadOnlySpan<float> x, Span<float> y, ReadOnlySpan<float> dy, Span<float> dx)
    {
        int planes = _num * _channels, plane = _height * _width;
        int first = (int)((long)planes * b / blocks), end = (int)((long)planes * (b + 1) / blocks);
        var rows = _tmp.AsSpan(b * 2 * plane, plane);
        var pow = _tmp.AsSpan((b * 2 + 1) * plane, plane);
        bool backward = !dx.IsEmpty;
        float a = _alpha / (_size * _size);
        float coeff = 2 * _alpha * _beta / (_size * _size);
        for (int pl = first; pl < end; pl++)
        {
            int o = pl * plane;
            var s = _scale.AsSpan(o, plane);
            var xs = x.Slice(o, plane);
            if (!backward)
            {
                TensorPrimitives.Multiply(xs, xs, s);
                BoxSumInPlace(s, rows);
                TensorPrimitives.Multiply(s, a, s);
                TensorPrimitives.Add(s, 1f, s);
                var ys = y.Slice(o, plane);
                PowNeg(s, _beta, ys);
                TensorPrimitives.Multiply(xs, ys, ys);
                continue;
            }
            var r = dx.Slice(o, plane);
            Ratio(o, dy, y, _scale, r);
            BoxSumInPlace(r, rows);
            PowNeg(s, _beta, pow);
            Combine(dy.Slice(o, plane), pow, xs, r, coeff, r);
        }
    }

    private void ForwardAcross(int index, ReadOnlySpan<float> x, Span<float> y)
    {
        int n = index / _channels, c = index % _channels, plane = _height * _width;
        int image = n * _channels * plane;
        var s = _scale.AsSpan(image + c * plane, plane);
        int lo = Math.Max(0, c - _pre), hi = Math.Min(_channels - 1, c + _pre);
        TensorPrimitives.Multiply(x.Slice(image + lo * plane, plane), x.Slice(image + lo * plane, plane), s);
        for (int j = lo + 1; j <= hi; j++)
        {
            var xj = x.Slice(image + j * plane, plane);
            AddSquares(xj, s);
        }
        // scale = k + α/n·Σx²
        TensorPrimitives.Multiply(s, _alpha / _size, s);
        TensorPrimitives.Add(s, _k, s);
        var yc = y.Slice(image + c * plane, plane);
        PowNeg(s, _beta, yc);
        TensorPrimitives.Multiply(x.Slice(image + c * plane, plane), yc, yc);
    }

    /// <summary>s += x·x (a multiply, then an add: the order the window sum has always had).</summary>
    private static void AddSquares(ReadOnlySpan<float> x, Span<float> s)
    {
        int i = 0;
        if (Vector256.IsHardwareAccelerated)
            for (; i + 8 <= x.Length; i += 8)
            {
                var v = Vector256.Create(x.Slice(i, 8));
                (Vector256.Create(s.Slice(i, 8)) + v * v).CopyTo(s.Slice(i, 8));
            }
        for (; i < x.Length; i++) s[i] += x[i] * x[i];
    }

    /// <summary>dst = s^−β, vectorised: β = 0.75 (AlexNet's, GoogLeNet's, every Caffe model's) as
    /// 1/(√s·√√s), 0.5 and 1 directly, any other β as exp(−β·ln s). s ≥ k > 0.</summary>
    private static void PowNeg(ReadOnlySpan<float> s, float beta, Span<float> dst)
    {
        switch (beta)
        {
            case 0.75f:
                {
                    int i = 0;
                    if (Vector256.IsHardwareAccelerated)
                        for (; i + 8 <= s.Length; i += 8)
                        {
                            var half = Vector256.Sqrt(Vector256.Create(s.Slice(i, 8)));
                            (Vector256<float>.One / (half * Vector256.Sqrt(half))).CopyTo(dst.Slice(i, 8));
                        }
                    for (; i < s.Length; i++)
                    {
                        float half = MathF.Sqrt(s[i]);
                        dst[i] = 1 / (half * MathF.Sqrt(half));
                    }
                    break;
                }
            case 0.5f:
                TensorPrimitives.Sqrt(s, dst);
                TensorPrimitives.Reciprocal(dst, dst);
                break;
            case 1f:
                TensorPrimitives.Reciprocal(s, dst);
                break;
            default:
                TensorPrimitives.Log(s, dst);
                TensorPrimitives.Multiply(dst, -beta, dst);
                TensorPrimitives.Exp(dst, dst);
                break;
        }
    }

    public override void Backward(IReadOnlyList<Blob> top, IReadOnlyList<bool> propagateDown, IReadOnlyList<Blob> bottom)
    {
        if (!propagateDown[0]) return;
        // dx = dy·scale^−β − (2αβ/n')·x·Σ_window(dy·y/scale), n' = n (across) or n² (within).
        if (_within)
        {
            int blocks = WithinBlocks();
            WorkerPool.For(blocks, (Layer: this, Top: top[0], Bottom: bottom[0], blocks), static (b, st) =>
                st.Layer.WithinPlanes(b, st.blocks, st.Bottom.Data, st.Top.Data, st.Top.Diff, st.Bottom.Diff));
            return;
        }
        // Across channels: images in parallel, each walking its channels with the window's
        // r = dy·y/scale planes in a ring of local_size planes (the plane entering the window
        // replaces the one that left it).
        float coeff = 2 * _alpha * _beta / _size;
        WorkerPool.For(_num, (Layer: this, Top: top[0], Bottom: bottom[0], coeff), static (n, st) =>
            st.Layer.BackwardAcross(n, st.Bottom.Data, st.Top.Data, st.Top.Diff, st.Bottom.Diff, st.coeff));
    }

    /// <summary>Planes in a backward ring: the window, or all the channels when it is wider
    /// (channel j sits in slot j mod local_size either way).</summary>
    private int RingSlots => Math.Min(_size, _channels);

    private void BackwardAcross(int n, ReadOnlySpan<float> x, ReadOnlySpan<float> y, ReadOnlySpan<float> dy, Span<float> dx, float coeff)
    {
        int plane = _height * _width, image = n * _channels * plane;
        int slots = RingSlots;
        var scratch = _ring.AsSpan(n * (slots + 2) * plane, (slots + 2) * plane);
        var acc = scratch.Slice(slots * plane, plane);
        var pow = scratch.Slice((slots + 1) * plane, plane);
        ReadOnlySpan<float> scale = _scale;
        for (int j = 0; j < Math.Min(_pre, _channels); j++) Ratio(image + j * plane, dy, y, scale, scratch.Slice(j % _size * plane, plane));
        for (int c = 0; c < _channels; c++)
        {
            if (c + _pre < _channels)
                Ratio(image + (c + _pre) * plane, dy, y, scale, scratch.Slice((c + _pre) % _size * plane, plane));
            int lo = Math.Max(0, c - _pre), hi = Math.Min(_channels - 1, c + _pre);
            scratch.Slice(lo % _size * plane, plane).CopyTo(acc);
            for (int j = lo + 1; j <= hi; j++) TensorPrimitives.Add(acc, scratch.Slice(j % _size * plane, plane), acc);
            int o = image + c * plane;
            PowNeg(scale.Slice(o, plane), _beta, pow);
            Combine(dy.Slice(o, plane), pow, x.Slice(o, plane), acc, coeff, dx.Slice(o, plane));
        }
    }

    /// <summary>r = dy·y/scale for the plane at offset <paramref name="o"/>.</summary>
    private static void Ratio(int o, ReadOnlySpan<float> dy, ReadOnlySpan<float> y, ReadOnlySpan<float> scale, Span<float> r)
    {
        TensorPrimitives.Multiply(dy.Slice(o, r.Length), y.Slice(o, r.Length), r);
        TensorPrimitives.Divide(r, scale.Slice(o, r.Length), r);
    }

    /// <summary>dx = dy·pow − coeff·x·acc, elementwise, in one pass.</summary>
    private static void Combine(ReadOnlySpan<float> dy, ReadOnlySpan<float> pow, ReadOnlySpan<float> x, ReadOnlySpan<float> acc, float coeff, Span<float> dx)
    {
        int i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            var k = Vector256.Create(coeff);
            for (; i + 8 <= dx.Length; i += 8)
                (Vector256.Create(dy.Slice(i, 8)) * Vector256.Create(pow.Slice(i, 8))
                    - k * Vector256.Create(x.Slice(i, 8)) * Vector256.Create(acc.Slice(i, 8))).CopyTo(dx.Slice(i, 8));
        }
        for (; i < dx.Length; i++) dx[i] = dy[i] * pow[i] - coeff * x[i] * acc[i];
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

    /// <summary>Replaces one plane by its n×n box sum (zero padded, centred): along rows into
    /// <paramref name="rows"/> (one shifted vector add per window offset, in window order), then
    /// down columns (one add per window row, in order).</summary>
    private void BoxSumInPlace(Span<float> plane, Span<float> rows)
    {
        int width = _width;
        rows.Clear();
        for (int h = 0; h < _height; h++)
        {
            var src = plane.Slice(h * width, width);
            var dst = rows.Slice(h * width, width);
            for (int d = -_pre; d <= _pre; d++)
            {
                int lo = Math.Max(0, -d), hi = Math.Min(width, width - d);
                if (lo < hi) TensorPrimitives.Add(dst[lo..hi], src[(lo + d)..(hi + d)], dst[lo..hi]);
            }
        }
        for (int h = 0; h < _height; h++)
        {
            int lo = Math.Max(0, h - _pre), hi = Math.Min(_height - 1, h + _pre);
            var dst = plane.Slice(h * width, width);
            rows.Slice(lo * width, width).CopyTo(dst);
            for (int j = lo + 1; j <= hi; j++) TensorPrimitives.Add(dst, rows.Slice(j * width, width), dst);
        }
    }
}
