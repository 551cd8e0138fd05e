using Engine.Backends;

namespace Engine.Layers;

/// <summary>
/// Layer state that lives on a backend across calls (a pooling mask, an LRN scale, a dropout
/// mask): allocated on first use, re-allocated when too small or when the backend changes (the
/// old buffer is freed).
/// </summary>
internal sealed class LayerDeviceBuffer
{
    private IBackend? _backend;
    private IBackendBuffer? _buffer;

    /// <summary>The first <paramref name="count"/> floats of the buffer on <paramref name="backend"/> (contents kept while it fits).</summary>
    public BufferView On(IBackend backend, int count)
    {
        if (_buffer == null || !ReferenceEquals(backend, _backend) || _buffer.Count < count)
        {
            _buffer?.Dispose();
            _buffer = null;
            _buffer = backend.Allocate(Math.Max(count, 1));
            _backend = backend;
        }
        return new BufferView(_buffer, 0, count);
    }
}
