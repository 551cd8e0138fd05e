using System.Numerics.Tensors;
using Engine.Backends;
using Engine.Core;
using Engine.Proto;

namespace Engine.Layers;

/// <summary>
/// Parametric ReLU: y = max(x, 0) + a_c·min(x, 0) with a learned slope a_c per channel (axis 1),
/// or one slope for all channels with channel_shared. The slopes start from prelu_param.filler
/// (default constant 0.25). Backward: dx = dy where x &gt; 0, a_c·dy elsewhere;
/// da_c += Σ dy·x over the elements of channel c with x ≤ 0. In place the bottom data is
/// overwritten by forward, so a copy of x is kept for backward.
/// </summary>
[LayerType("PReLU")]
public sealed class PReLULayer : NeuronLayer
{
    private bool _shared;
    private int _channels, _dim, _outer;
    private float[] _input = [];

    public PReLULayer(LayerParameter param) : base(param) { }

    public override void LayerSetUp(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        var b = bottom[0];
        if (b.NumAxes < 2) throw Error($"bottom \"{b.Name}\" {b.ShapeString} needs at least 2 axes (items and channels)");
        var p = Param.PreluParam;
        _shared = p?.ChannelShared ?? false;
        var filler = p?.Filler ?? new FillerParameter { Type = "constant", Value = 0.25f };
        int[] shape = _shared ? [] : [b.Dim(1)];
        if (Blobs.Count > 0 && Blobs.Count != 1) throw Error($"has {Blobs.Count} parameter blobs, expected 1 (the slopes)");
        if (Blobs.Count == 1 && !Blobs[0].ShapeEquals(shape))
            throw Error($"slope shape {Blobs[0].ShapeString} does not match the bottom \"{b.Name}\" {b.ShapeString} (channel_shared: {(_shared ? "true" : "false")})");
        SetUpWeights(shape, filler, 0, null);
    }

    public override void Reshape(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        var b = bottom[0];
        if (b.NumAxes < 2) throw Error($"bottom \"{b.Name}\" {b.ShapeString} needs at least 2 axes (items and channels)");
        if (!_shared && b.Dim(1) != Blobs[0].Count)
            throw Error($"bottom \"{b.Name}\" {b.ShapeString} has {b.Dim(1)} channels but the slope blob {Blobs[0].ShapeString} has {Blobs[0].Count}");
        base.Reshape(bottom, top);
        _channels = b.Dim(1);
        _dim = (int)b.CountFrom(2);
        _outer = b.Dim(0);
        if (InPlace(bottom, top) && _input.Length < b.Count) _input = new float[b.Count];
    }

    public override void Forward(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        ReadOnlySpan<float> x = bottom[0].Data;
        Span<float> y = top[0].Data;
        if (InPlace(bottom, top)) x.CopyTo(_input);
        Compute(x, Blobs[0].Data, _outer, _channels, _dim, _shared, y);
    }

    public override void Backward(IReadOnlyList<Blob> top, IReadOnlyList<bool> propagateDown, IReadOnlyList<Blob> bottom)
    {
        ReadOnlySpan<float> x = InPlace(bottom, top) ? _input.AsSpan(0, (int)bottom[0].Count) : bottom[0].Data;
        ReadOnlySpan<float> dy = top[0].Diff;
        ReadOnlySpan<float> a = Blobs[0].Data;
        // The slope gradient first: in place, dx overwrites dy.
        if (ParamPropagateDown.Length > 0 && ParamPropagateDown[0])
            SlopeGradient(x, dy, _outer, _channels, _dim, _shared, Blobs[0].Diff);
        if (!propagateDown[0]) return;
        Gradient(x, dy, a, _outer, _channels, _dim, _shared, bottom[0].Diff);
    }

    /// <summary>y = x where x &gt; 0, a_c·x elsewhere, over outer × channels × dim (y may be x).</summary>
    internal static void Compute(ReadOnlySpan<float> x, ReadOnlySpan<float> a, int outer, int channels, int dim, bool shared, Span<float> y)
    {
        for (int n = 0; n < outer; n++)
            for (int c = 0; c < channels; c++)
            {
                int o = (n * channels + c) * dim;
                float slope = shared ? a[0] : a[c];
                var xs = x.Slice(o, dim);
                var ys = y.Slice(o, dim);
                for (int i = 0; i < dim; i++) ys[i] = xs[i] > 0 ? xs[i] : slope * xs[i];
            }
    }

    /// <summary>da_c += Σ dy·x over the elements of channel c with x ≤ 0 (da_0 for all when shared).</summary>
    internal static void SlopeGradient(ReadOnlySpan<float> x, ReadOnlySpan<float> dy, int outer, int channels, int dim, bool shared, Span<float> da)
    {
        for (int n = 0; n < outer; n++)
            for (int c = 0; c < channels; c++)
            {
                int o = (n * channels + c) * dim;
                var xs = x.Slice(o, dim);
                var g = dy.Slice(o, dim);
                float sum = 0;
                for (int i = 0; i < dim; i++) if (xs[i] <= 0) sum += xs[i] * g[i];
                da[shared ? 0 : c] += sum;
            }
    }

    /// <summary>dx = dy where x &gt; 0, a_c·dy elsewhere (dx may be dy).</summary>
    internal static void Gradient(ReadOnlySpan<float> x, ReadOnlySpan<float> dy, ReadOnlySpan<float> a, int outer, int channels, int dim, bool shared, Span<float> dx)
    {
        for (int n = 0; n < outer; n++)
            for (int c = 0; c < channels; c++)
            {
                int o = (n * channels + c) * dim;
                float slope = shared ? a[0] : a[c];
                var xs = x.Slice(o, dim);
                for (int i = 0; i < dim; i++) dx[o + i] = xs[i] > 0 ? dy[o + i] : slope * dy[o + i];
            }
    }

    // In place forward keeps a copy of x in a device buffer, as the host does in _input.
    private readonly DeviceBuffer _deviceInput = new();

    public override bool RunsOnDevice => true;

    public override void ForwardOn(IBackend backend, IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        var x = bottom[0].DataOn(backend);
        if (InPlace(bottom, top)) backend.Copy(x, _deviceInput.On(backend, x.Count));
        backend.PReluForward(_outer, _channels, _dim, _shared, x, Blobs[0].DataOn(backend), top[0].MutableDataOn(backend));
    }

    public override void BackwardOn(IBackend backend, IReadOnlyList<Blob> top, IReadOnlyList<bool> propagateDown, IReadOnlyList<Blob> bottom)
    {
        var dy = top[0].DiffOn(backend);
        var x = InPlace(bottom, top) ? _deviceInput.On(backend, dy.Count) : bottom[0].DataOn(backend);
        // The slope gradient first: in place, dx overwrites dy.
        if (ParamPropagateDown.Length > 0 && ParamPropagateDown[0])
            backend.PReluSlopeGradient(_outer, _channels, _dim, _shared, x, dy, Blobs[0].MutableDiffOn(backend));
        if (!propagateDown[0]) return;
        backend.PReluBackward(_outer, _channels, _dim, _shared, x, Blobs[0].DataOn(backend), dy, bottom[0].MutableDiffOn(backend));
    }
}
