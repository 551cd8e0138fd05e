using Engine.Backends;

namespace Engine.Layers;

/// <summary>
/// A layer's scratch array on a device backend (the device counterpart of a host float[] it keeps
/// between forward and backward): allocated on first use, re-allocated when too small or when the
/// backend changes. Used by the normalisation and recurrent layers.
/// </summary>
internal sealed class NormScratch
{
    private IBackend? _backend;
    private IBackendBuffer? _buffer;

    /// <summary>The first <paramref name="count"/> floats (contents kept while the buffer is big enough).</summary>
    public BufferView On(IBackend backend, long count)
    {
        if (!ReferenceEquals(backend, _backend) || _buffer == null || _buffer.Count < count)
        {
            _buffer?.Dispose();
            _buffer = backend.Allocate(checked((int)Math.Max(count, 1)));
            _backend = backend;
        }
        return new BufferView(_buffer, 0, (int)count);
    }
}
