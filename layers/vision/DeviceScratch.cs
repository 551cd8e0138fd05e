using System.Runtime.CompilerServices;
using Engine.Backends;

namespace Engine.Layers;

/// <summary>
/// The device counterpart of <see cref="ConvolutionWorkspace"/>: one scratch buffer (columns,
/// bias sums) and one vector of ones per backend, shared by every Convolution, Deconvolution and
/// InnerProduct layer run from one thread. A backend runs its operations in order on one queue,
/// so a layer may reuse the buffer the previous layer wrote; each buffer grows to the largest need
/// and never shrinks, which keeps device memory to one column buffer per net, not one per layer.
/// Each calling thread has its own (as the host workspace), so nets run on different threads
/// with one backend do not interleave their writes.
/// </summary>
internal sealed class DeviceScratch
{
    [ThreadStatic] private static ConditionalWeakTable<IBackend, DeviceScratch>? tables;

    private readonly IBackend _backend;
    private IBackendBuffer? _scratch, _ones;

    private DeviceScratch(IBackend backend) => _backend = backend;

    /// <summary>The calling thread's scratch on <paramref name="backend"/>.</summary>
    public static DeviceScratch For(IBackend backend) =>
        (tables ??= new()).GetValue(backend, static b => new DeviceScratch(b));

    /// <summary>
    /// A scratch view of at least <paramref name="count"/> floats (contents undefined). Growing
    /// releases the old buffer; operations already enqueued on it still complete (OpenCL keeps a
    /// released buffer alive until the commands using it have run).
    /// </summary>
    public BufferView Scratch(int count)
    {
        if (_scratch == null || _scratch.Count < count)
        {
            _scratch?.Dispose();
            _scratch = null;
            _scratch = _backend.Allocate(Math.Max(count, 1));
        }
        return new BufferView(_scratch, 0, count);
    }

    /// <summary><paramref name="count"/> ones, for the bias GEMMs (filled once when the buffer grows).</summary>
    public BufferView Ones(int count)
    {
        if (_ones == null || _ones.Count < count)
        {
            _ones?.Dispose();
            _ones = null;
            var ones = _backend.Allocate(Math.Max(count, 1));
            _backend.Fill(ones.All, 1f);
            _ones = ones;
        }
        return new BufferView(_ones, 0, count);
    }
}
