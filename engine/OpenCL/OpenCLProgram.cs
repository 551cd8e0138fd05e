using System.Text;

namespace Engine.OpenCL;

/// <summary>A program built for one device, and its kernels (created once, by name).</summary>
public sealed unsafe class OpenCLProgram
{
    private readonly OpenCLContext _context;
    private readonly Dictionary<string, OpenCLKernel> _kernels = new(StringComparer.Ordinal);
    private nint _handle;

    internal OpenCLProgram(OpenCLContext context, string name, nint handle, bool fromCache, TimeSpan buildTime)
    {
        _context = context;
        Name = name;
        _handle = handle;
        FromCache = fromCache;
        BuildTime = buildTime;
    }

    public string Name { get; }

    /// <summary>Whether the program was loaded from a binary in the disk cache (no compilation).</summary>
    public bool FromCache { get; }

    /// <summary>How long building (or loading) took.</summary>
    public TimeSpan BuildTime { get; }

    public OpenCLKernel Kernel(string name)
    {
        lock (_kernels)
        {
            if (_kernels.TryGetValue(name, out var k)) return k;
            var bytes = Encoding.UTF8.GetBytes(name + "\0");
            int rc;
            nint handle;
            fixed (byte* p = bytes) handle = _context.Cl.CreateKernel(_handle, p, &rc);
            Native.Check(rc, $"clCreateKernel({Name}.cl: {name})");
            k = new OpenCLKernel(_context, name, handle);
            _kernels[name] = k;
            return k;
        }
    }

    internal void Release()
    {
        lock (_kernels)
        {
            foreach (var k in _kernels.Values) _context.Cl.ReleaseKernel(k.Handle);
            _kernels.Clear();
        }
        if (_handle != 0) { _context.Cl.ReleaseProgram(_handle); _handle = 0; }
    }
}

/// <summary>
/// A kernel: set its arguments in order, then launch it on the context's queue. One kernel object
/// is shared by its callers, so a launch holds the kernel's lock from the first argument to the
/// enqueue (use <see cref="Launch"/>).
/// </summary>
public sealed unsafe class OpenCLKernel
{
    private readonly OpenCLContext _context;

    internal OpenCLKernel(OpenCLContext context, string name, nint handle)
    {
        _context = context;
        Name = name;
        Handle = handle;
    }

    public string Name { get; }
    internal nint Handle { get; }

    /// <summary>Sets the arguments and enqueues the kernel over <paramref name="global"/> work-items
    /// (rounded up to the work-group size <paramref name="local"/> when one is given).</summary>
    public void Launch(ReadOnlySpan<long> global, ReadOnlySpan<long> local, params ReadOnlySpan<KernelArg> args)
    {
        lock (this)
        {
            for (int i = 0; i < args.Length; i++) args[i].Set(_context.Cl, Handle, (uint)i, Name);
            int dims = global.Length;
            nuint* g = stackalloc nuint[3];
            nuint* l = stackalloc nuint[3];
            for (int d = 0; d < dims; d++)
            {
                long size = Math.Max(global[d], 1);
                if (local.Length > 0) size = (size + local[d] - 1) / local[d] * local[d];
                g[d] = (nuint)size;
                if (local.Length > 0) l[d] = (nuint)local[d];
            }
            Native.Check(_context.Cl.EnqueueNDRangeKernel(_context.Queue, Handle, (uint)dims, null, g, local.Length > 0 ? l : null, 0, null, null),
                $"clEnqueueNDRangeKernel({Name})");
        }
    }
}

/// <summary>One kernel argument: a buffer (or none), an int, a float.</summary>
public readonly unsafe struct KernelArg
{
    private readonly nint _mem;
    private readonly int _int;
    private readonly float _float;
    private readonly byte _kind; // 0 buffer, 1 int, 2 float

    private KernelArg(nint mem, int i, float f, byte kind) { _mem = mem; _int = i; _float = f; _kind = kind; }

    public static implicit operator KernelArg(OpenCLBuffer? buffer) => new(buffer?.Handle ?? 0, 0, 0, 0);
    public static implicit operator KernelArg(int value) => new(0, value, 0, 1);
    public static implicit operator KernelArg(float value) => new(0, 0, value, 2);

    internal void Set(Native.Api cl, nint kernel, uint index, string name)
    {
        int rc;
        switch (_kind)
        {
            case 0: { nint m = _mem; rc = cl.SetKernelArg(kernel, index, (nuint)sizeof(nint), &m); break; }
            case 1: { int v = _int; rc = cl.SetKernelArg(kernel, index, sizeof(int), &v); break; }
            default: { float v = _float; rc = cl.SetKernelArg(kernel, index, sizeof(float), &v); break; }
        }
        Native.Check(rc, $"clSetKernelArg({name}, {index})");
    }
}
