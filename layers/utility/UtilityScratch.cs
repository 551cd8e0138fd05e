using Engine.Backends;

namespace Engine.Layers;

/// <summary>
/// A utility layer's device scratch that lives across calls (Eltwise's argmax, Embed's ones,
/// Filter's kept indices): a backend buffer allocated on first use, re-allocated when too small
/// or when the layer is run on another backend.
/// </summary>
internal sealed class UtilityScratch
{
    private IBackend? _backend;
    private IBackendBuffer? _buffer;

    /// <summary>The first <paramref name="count"/> floats; <paramref name="fresh"/> says the buffer is new (its contents undefined).</summary>
    public BufferView Get(IBackend backend, int count, out bool fresh)
    {
        fresh = false;
        if (_buffer == null || !ReferenceEquals(backend, _backend) || _buffer.Count < count)
        {
            _buffer?.Dispose();
            _buffer = backend.Allocate(Math.Max(count, 1));
            _backend = backend;
            fresh = true;
        }
        return _buffer.All.Slice(0, count);
    }

    public BufferView Get(IBackend backend, int count) => Get(backend, count, out _);
}
