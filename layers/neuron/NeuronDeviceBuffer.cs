using Engine.Backends;

namespace Engine.Layers;

/// <summary>
/// The device counterpart of a neuron layer's host scratch (a mask, a kept argument): a backend
/// buffer allocated on first use, and again when it is too small or the backend changes.
/// </summary>
internal sealed class NeuronDeviceBuffer
{
    private IBackend? _backend;
    private IBackendBuffer? _buffer;

    /// <summary>The first <paramref name="count"/> floats of the buffer on <paramref name="backend"/> (contents kept while it is not re-allocated).</summary>
    public BufferView On(IBackend backend, int count)
    {
        if (_buffer == null || !ReferenceEquals(backend, _backend) || _buffer.Count < count)
        {
            _buffer?.Dispose();
            _buffer = backend.Allocate(Math.Max(count, 1));
            _backend = backend;
        }
        return new BufferView(_buffer, 0, count);
    }
}
