using Engine.Backends;

namespace Engine.Layers;

/// <summary>
/// A loss layer's device scratch: per-position (or per-element) losses and valid counts for the
/// reduction, the normaliser the forward pass leaves for backward (one float), and the
/// class_weight values uploaded once. Buffers are allocated on first use, grown when too small
/// and dropped when the backend changes.
/// </summary>
internal sealed class LossScratch
{
    private IBackend? _backend;
    private readonly DeviceBuffer _losses = new(), _counts = new(), _normalizer = new();
    private IBackendBuffer? _classWeights;

    private void On(IBackend backend)
    {
        if (ReferenceEquals(backend, _backend)) return;
        _classWeights?.Dispose();
        _classWeights = null;
        _backend = backend;
    }

    public BufferView Losses(IBackend backend, int count)
    {
        On(backend);
        return _losses.On(backend, count);
    }

    /// <summary>Room for <paramref name="count"/> valid flags.</summary>
    public BufferView Counts(IBackend backend, int count)
    {
        On(backend);
        return _counts.On(backend, count);
    }

    /// <summary>The normaliser: written by <see cref="IBackend.LossReduce"/> in forward, read in backward.</summary>
    public BufferView Normalizer(IBackend backend)
    {
        On(backend);
        return _normalizer.On(backend, 1);
    }

    /// <summary>The class weights on the backend (uploaded on first use; they are fixed at set-up), or null without any.</summary>
    public BufferView? ClassWeights(IBackend backend, float[]? values)
    {
        if (values == null) return null;
        On(backend);
        if (_classWeights == null || _classWeights.Count != values.Length)
        {
            _classWeights?.Dispose();
            _classWeights = backend.Allocate(values.Length);
            backend.Upload(values, _classWeights.All);
        }
        return _classWeights.All;
    }
}
