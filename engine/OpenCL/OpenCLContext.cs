using System.Runtime.InteropServices;
using System.Text;

namespace Engine.OpenCL;

/// <summary>
/// One device opened for computing: an OpenCL context and one in-order command queue, the
/// programs built for it (through the on-disk <see cref="ProgramCache"/>) and their kernels.
/// Commands run in the order they are enqueued; only reads back to the host wait.
/// </summary>
public sealed unsafe class OpenCLContext : IDisposable
{
    private readonly Native.Api _cl;
    private readonly Dictionary<string, OpenCLProgram> _programs = new(StringComparer.Ordinal);
    private readonly Lock _gate = new();
    private nint _context, _queue;
    private nint _transfer;  // the second queue, for staged uploads (made on first use)

    public OpenCLContext(OpenCLDeviceInfo device, ProgramCache? cache = null)
    {
        _cl = Native.Cl;
        Device = device;
        Cache = cache ?? ProgramCache.Default();
        nint* props = stackalloc nint[3] { Native.ContextPlatform, device.PlatformId, 0 };
        nint id = device.DeviceId;
        int rc;
        _context = _cl.CreateContext(props, 1, &id, 0, 0, &rc);
        Native.Check(rc, "clCreateContext");
        _queue = _cl.CreateCommandQueue(_context, id, 0, &rc);
        if (rc != 0)
        {
            _cl.ReleaseContext(_context);
            _context = 0;
            Native.Check(rc, "clCreateCommandQueue");
        }
    }

    public OpenCLDeviceInfo Device { get; }
    public ProgramCache Cache { get; }
    internal nint Handle => _context;
    internal nint Queue => _queue;
    internal Native.Api Cl => _cl;

    /// <summary>A new device buffer of <paramref name="count"/> floats (contents undefined).</summary>
    public OpenCLBuffer Allocate(int count)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        int rc;
        nint mem = _cl.CreateBuffer(_context, Native.MemReadWrite, (nuint)Math.Max(count, 1) * sizeof(float), null, &rc);
        Native.Check(rc, $"clCreateBuffer({Engine.Core.Log.Bytes((long)count * sizeof(float))})");
        return new OpenCLBuffer(this, mem, count);
    }

    /// <summary>Copies <paramref name="source"/> to the buffer at element <paramref name="offset"/> and waits.</summary>
    public void Write(OpenCLBuffer buffer, int offset, ReadOnlySpan<float> source)
    {
        buffer.CheckRange(offset, source.Length);
        if (source.Length == 0) return;
        fixed (float* p = source)
            Native.Check(_cl.EnqueueWriteBuffer(_queue, buffer.Handle, 1, (nuint)offset * sizeof(float), (nuint)source.Length * sizeof(float), p, 0, null, null),
                "clEnqueueWriteBuffer");
    }

    /// <summary>Copies the buffer's elements from <paramref name="offset"/> into <paramref name="destination"/>, after every command enqueued before.</summary>
    public void Read(OpenCLBuffer buffer, int offset, Span<float> destination)
    {
        buffer.CheckRange(offset, destination.Length);
        if (destination.Length == 0) return;
        fixed (float* p = destination)
            Native.Check(_cl.EnqueueReadBuffer(_queue, buffer.Handle, 1, (nuint)offset * sizeof(float), (nuint)destination.Length * sizeof(float), p, 0, null, null),
                "clEnqueueReadBuffer");
    }

    /// <summary>Starts copying <paramref name="source"/>[start, start+count) to the buffer and returns at once; the
    /// array stays pinned until the returned event is waited for or disposed (do not change it before).</summary>
    public OpenCLEvent WriteAsync(OpenCLBuffer buffer, int offset, float[] source, int start, int count)
    {
        buffer.CheckRange(offset, count);
        if ((uint)start > (uint)source.Length || (uint)count > (uint)(source.Length - start)) throw new ArgumentOutOfRangeException(nameof(count));
        var pin = GCHandle.Alloc(source, GCHandleType.Pinned);
        nint ev = 0;
        int rc = _cl.EnqueueWriteBuffer(_queue, buffer.Handle, 0, (nuint)offset * sizeof(float), (nuint)count * sizeof(float),
            (float*)pin.AddrOfPinnedObject() + start, 0, null, &ev);
        if (rc != 0) pin.Free();
        Native.Check(rc, "clEnqueueWriteBuffer(non-blocking)");
        _cl.Flush(_queue);
        return new OpenCLEvent(_cl, ev, pin);
    }

    /// <summary>
    /// Starts copying <paramref name="source"/>[start, start+count) to the buffer through a second
    /// queue, so the copy over the bus can run while the compute queue is still busy (a data
    /// layer's next batch during the current iteration's kernels). The data goes to a staging
    /// buffer of the same size on the transfer queue, then a device copy on the compute queue,
    /// which waits for it, moves it into place: commands enqueued later on the compute queue see the
    /// values, and commands enqueued earlier (the previous batch's readers) are not disturbed. The
    /// next staged write into the same buffer waits for that device copy. The array stays pinned
    /// until the returned event (the host-to-staging copy) is waited for or disposed.
    /// </summary>
    public OpenCLEvent WriteStaged(OpenCLBuffer buffer, int offset, float[] source, int start, int count)
    {
        buffer.CheckRange(offset, count);
        if ((uint)start > (uint)source.Length || (uint)count > (uint)(source.Length - start)) throw new ArgumentOutOfRangeException(nameof(count));
        if (_transfer == 0)
        {
            int qrc;
            _transfer = _cl.CreateCommandQueue(_context, Device.DeviceId, 0, &qrc);
            Native.Check(qrc, "clCreateCommandQueue(transfer)");
        }
        var staging = buffer.Staging ??= Allocate(buffer.Count);
        var pin = GCHandle.Alloc(source, GCHandleType.Pinned);
        nint free = buffer.StagingFree, written = 0, moved = 0;
        // Host → staging on the transfer queue, once the previous batch has left the staging buffer.
        int rc = _cl.EnqueueWriteBuffer(_transfer, staging.Handle, 0, (nuint)offset * sizeof(float), (nuint)count * sizeof(float),
            (float*)pin.AddrOfPinnedObject() + start, free != 0 ? 1u : 0u, free != 0 ? &free : null, &written);
        if (rc != 0) pin.Free();
        Native.Check(rc, "clEnqueueWriteBuffer(transfer queue)");
        // A command of another queue may wait on this event only once its queue is flushed.
        _cl.Flush(_transfer);
        // Staging → buffer on the compute queue, after the write.
        rc = _cl.EnqueueCopyBuffer(_queue, staging.Handle, buffer.Handle, (nuint)offset * sizeof(float), (nuint)offset * sizeof(float),
            (nuint)count * sizeof(float), 1, &written, &moved);
        if (rc != 0)
        {
            new OpenCLEvent(_cl, written, pin).Wait();
            Native.Check(rc, "clEnqueueCopyBuffer(staging)");
        }
        _cl.Flush(_queue);
        if (free != 0) _cl.ReleaseEvent(free);
        buffer.StagingFree = moved;
        return new OpenCLEvent(_cl, written, pin);
    }

    /// <summary>Starts copying the buffer into <paramref name="destination"/>[start, start+count); the values are there once the event completes.</summary>
    public OpenCLEvent ReadAsync(OpenCLBuffer buffer, int offset, float[] destination, int start, int count)
    {
        buffer.CheckRange(offset, count);
        if ((uint)start > (uint)destination.Length || (uint)count > (uint)(destination.Length - start)) throw new ArgumentOutOfRangeException(nameof(count));
        var pin = GCHandle.Alloc(destination, GCHandleType.Pinned);
        nint ev = 0;
        int rc = _cl.EnqueueReadBuffer(_queue, buffer.Handle, 0, (nuint)offset * sizeof(float), (nuint)count * sizeof(float),
            (float*)pin.AddrOfPinnedObject() + start, 0, null, &ev);
        if (rc != 0) pin.Free();
        Native.Check(rc, "clEnqueueReadBuffer(non-blocking)");
        _cl.Flush(_queue);
        return new OpenCLEvent(_cl, ev, pin);
    }

    /// <summary>Sets <paramref name="count"/> elements from <paramref name="offset"/> to <paramref name="value"/>.</summary>
    public void Fill(OpenCLBuffer buffer, int offset, int count, float value)
    {
        buffer.CheckRange(offset, count);
        if (count == 0) return;
        Native.Check(_cl.EnqueueFillBuffer(_queue, buffer.Handle, &value, sizeof(float), (nuint)offset * sizeof(float), (nuint)count * sizeof(float), 0, null, null),
            "clEnqueueFillBuffer");
    }

    /// <summary>Copies <paramref name="count"/> elements between buffers (regions of one buffer must not overlap).</summary>
    public void Copy(OpenCLBuffer source, int sourceOffset, OpenCLBuffer destination, int destinationOffset, int count)
    {
        source.CheckRange(sourceOffset, count);
        destination.CheckRange(destinationOffset, count);
        if (count == 0) return;
        Native.Check(_cl.EnqueueCopyBuffer(_queue, source.Handle, destination.Handle, (nuint)sourceOffset * sizeof(float),
            (nuint)destinationOffset * sizeof(float), (nuint)count * sizeof(float), 0, null, null), "clEnqueueCopyBuffer");
    }

    /// <summary>Waits until every enqueued command has finished.</summary>
    public void Finish() => Native.Check(_cl.Finish(_queue), "clFinish");

    /// <summary>
    /// The program built from the embedded source <c>kernels/<paramref name="name"/>.cl</c> with
    /// <paramref name="options"/>: built once per context, loaded from the disk cache when an
    /// earlier process built it for this device, driver and source.
    /// </summary>
    public OpenCLProgram Program(string name, string options = "")
    {
        lock (_gate)
        {
            var key = name + "\n" + options;
            if (_programs.TryGetValue(key, out var program)) return program;
            program = Cache.Build(this, name, KernelSources.Get(name), options);
            _programs[key] = program;
            return program;
        }
    }

    /// <summary>Builds a program from source text (no disk cache); a failure carries the build log.</summary>
    internal nint BuildFromSource(string source, string options, string what)
    {
        var bytes = Encoding.UTF8.GetBytes(source);
        int rc;
        nint program;
        fixed (byte* p = bytes)
        {
            byte* ptr = p;
            nuint len = (nuint)bytes.Length;
            program = _cl.CreateProgramWithSource(_context, 1, &ptr, &len, &rc);
        }
        Native.Check(rc, $"clCreateProgramWithSource({what})");
        Build(program, options, what);
        return program;
    }

    /// <summary>Builds a program from a binary this device made before; 0 when the driver rejects it.</summary>
    internal nint TryBuildFromBinary(byte[] binary, string options, string what)
    {
        int rc, status;
        nint program;
        nint id = Device.DeviceId;
        fixed (byte* p = binary)
        {
            byte* ptr = p;
            nuint len = (nuint)binary.Length;
            program = _cl.CreateProgramWithBinary(_context, 1, &id, &len, &ptr, &status, &rc);
        }
        if (rc != 0 || status != 0)
        {
            if (program != 0) _cl.ReleaseProgram(program);
            return 0;
        }
        try
        {
            Build(program, options, what);
            return program;
        }
        catch (OpenCLException)
        {
            _cl.ReleaseProgram(program);
            return 0;
        }
    }

    private void Build(nint program, string options, string what)
    {
        var opts = Encoding.UTF8.GetBytes(options + "\0");
        nint id = Device.DeviceId;
        int rc;
        fixed (byte* o = opts) rc = _cl.BuildProgram(program, 1, &id, o, 0, 0);
        if (rc == 0) return;
        string log;
        try { log = BuildLog(program); }
        catch (OpenCLException) { log = "(no build log)"; }
        _cl.ReleaseProgram(program);
        throw new OpenCLException($"clBuildProgram({what})", rc, $"build log:\n{log}");
    }

    private string BuildLog(nint program)
    {
        nuint size;
        Native.Check(_cl.GetProgramBuildInfo(program, Device.DeviceId, Native.ProgramBuildLog, 0, null, &size), "clGetProgramBuildInfo");
        var bytes = new byte[(int)size];
        fixed (byte* p = bytes) Native.Check(_cl.GetProgramBuildInfo(program, Device.DeviceId, Native.ProgramBuildLog, size, p, null), "clGetProgramBuildInfo");
        return Encoding.UTF8.GetString(bytes).TrimEnd('\0').Trim();
    }

    /// <summary>The device binary of a built program (CL_PROGRAM_BINARIES), for the disk cache.</summary>
    internal byte[] Binary(nint program)
    {
        nuint size;
        Native.Check(_cl.GetProgramInfo(program, Native.ProgramBinarySizes, (nuint)sizeof(nuint), &size, null), "clGetProgramInfo(CL_PROGRAM_BINARY_SIZES)");
        var bytes = new byte[(int)size];
        if (size == 0) return bytes;
        fixed (byte* p = bytes)
        {
            byte* ptr = p;
            Native.Check(_cl.GetProgramInfo(program, Native.ProgramBinaries, (nuint)sizeof(nint), &ptr, null), "clGetProgramInfo(CL_PROGRAM_BINARIES)");
        }
        return bytes;
    }

    public void Dispose()
    {
        lock (_gate)
        {
            foreach (var p in _programs.Values) p.Release();
            _programs.Clear();
        }
        if (_transfer != 0) { _cl.Finish(_transfer); _cl.ReleaseCommandQueue(_transfer); _transfer = 0; }
        if (_queue != 0) { _cl.Finish(_queue); _cl.ReleaseCommandQueue(_queue); _queue = 0; }
        if (_context != 0) { _cl.ReleaseContext(_context); _context = 0; }
    }
}

/// <summary>A float32 buffer in a device's memory.</summary>
public sealed unsafe class OpenCLBuffer : Engine.Backends.BackendBufferBase
{
    private readonly OpenCLContext _owner;

    internal OpenCLBuffer(OpenCLContext owner, nint handle, int count)
    {
        _owner = owner;
        Handle = handle;
        Count = count;
    }

    internal nint Handle { get; private set; }

    /// <summary>Number of floats.</summary>
    public override int Count { get; }

    public OpenCLContext Context => _owner;

    internal void CheckRange(int offset, int count)
    {
        if (Handle == 0) throw new ObjectDisposedException(nameof(OpenCLBuffer));
        if (offset < 0 || count < 0 || (long)offset + count > Count)
            throw new ArgumentOutOfRangeException(nameof(count), $"elements [{offset}, {(long)offset + count}) are outside a buffer of {Count}");
    }

    /// <summary>The staging buffer of <see cref="OpenCLContext.WriteStaged"/> (null until the first staged write).</summary>
    internal OpenCLBuffer? Staging { get; set; }

    /// <summary>The event of the last device copy out of <see cref="Staging"/> (0: none).</summary>
    internal nint StagingFree { get; set; }

    public override void Dispose()
    {
        // OpenCL keeps a released buffer (and event) alive until the commands using it are done.
        if (StagingFree != 0) { _owner.Cl.ReleaseEvent(StagingFree); StagingFree = 0; }
        Staging?.Dispose();
        Staging = null;
        if (Handle != 0) { _owner.Cl.ReleaseMemObject(Handle); Handle = 0; }
    }
}

/// <summary>A non-blocking transfer in flight; <see cref="Wait"/> (or Dispose) waits for it and unpins the host array.</summary>
public sealed unsafe class OpenCLEvent : IDisposable
{
    private readonly Native.Api _cl;
    private nint _event;
    private GCHandle _pin;

    internal OpenCLEvent(Native.Api cl, nint ev, GCHandle pin)
    {
        _cl = cl;
        _event = ev;
        _pin = pin;
    }

    public void Wait()
    {
        if (_event == 0) return;
        nint ev = _event;
        int rc = _cl.WaitForEvents(1, &ev);
        _cl.ReleaseEvent(ev);
        _event = 0;
        if (_pin.IsAllocated) _pin.Free();
        Native.Check(rc, "clWaitForEvents");
    }

    public void Dispose() => Wait();
}
