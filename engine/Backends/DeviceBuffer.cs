namespace Engine.Backends;

/// <summary>
/// A buffer a layer keeps on whichever backend it runs on (a mask, saved statistics, indices):
/// allocated on first use, again when a call needs more or the backend changes (the old one is
/// released; OpenCL keeps it alive until the commands already enqueued on it have run).
/// </summary>
public sealed class DeviceBuffer
{
    private IBackend? _backend;
    private IBackendBuffer? _buffer;

    /// <summary>The first <paramref name="count"/> floats on <paramref name="backend"/> (contents undefined when new).</summary>
    public BufferView On(IBackend backend, long count) => On(backend, count, out _);

    /// <summary>As <see cref="On(IBackend, long)"/>; <paramref name="fresh"/> says the buffer was just allocated (its contents are undefined).</summary>
    public BufferView On(IBackend backend, long count, out bool fresh)
    {
        fresh = false;
        if (_buffer == null || !ReferenceEquals(backend, _backend) || _buffer.Count < count)
        {
            _buffer?.Dispose();
            _buffer = null;
            _buffer = backend.Allocate(checked((int)Math.Max(count, 1)));
            _backend = backend;
            fresh = true;
        }
        return new BufferView(_buffer, 0, (int)count);
    }
}
