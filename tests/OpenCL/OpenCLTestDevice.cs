using Engine.Backends;
using Engine.OpenCL;
using NUnit.Framework;

namespace Engine.Tests.OpenCL;

/// <summary>
/// The OpenCL device the tests run on (the first one: PoCL in CI), opened once per test run with
/// a program cache of its own in a temporary folder, so each of the four programs is compiled
/// once per run (PoCL's LLVM is slow) and the user's cache is untouched.
/// </summary>
internal static class OpenCLTestDevice
{
    private static readonly Lazy<OpenCLBackend?> Shared = new(Open);
    private static string? _cacheDir;

    /// <summary>The backend, or Assert.Ignore when this machine has no OpenCL device.</summary>
    public static OpenCLBackend Backend
    {
        get
        {
            var backend = Shared.Value;
            if (backend == null)
                Assert.Ignore($"no OpenCL device: {OpenCLDevices.WhyNone} (Debian: apt-get install pocl-opencl-icd ocl-icd-libopencl1)");
            return backend!;
        }
    }

    /// <summary>The first device, or Assert.Ignore.</summary>
    public static OpenCLDeviceInfo Device
    {
        get
        {
            if (OpenCLDevices.All.Count == 0)
                Assert.Ignore($"no OpenCL device: {OpenCLDevices.WhyNone} (Debian: apt-get install pocl-opencl-icd ocl-icd-libopencl1)");
            return OpenCLDevices.All[0];
        }
    }

    private static OpenCLBackend? Open()
    {
        if (OpenCLDevices.All.Count == 0) return null;
        _cacheDir = Path.Combine(Path.GetTempPath(), "engine-opencl-tests-" + Guid.NewGuid().ToString("N"));
        return new OpenCLBackend(OpenCLDevices.All[0], new ProgramCache(_cacheDir));
    }

    /// <summary>Releases the device and removes the temporary cache (called once, after the run).</summary>
    public static void Close()
    {
        if (!Shared.IsValueCreated) return;
        Shared.Value?.Dispose();
        if (_cacheDir != null && Directory.Exists(_cacheDir)) Directory.Delete(_cacheDir, recursive: true);
    }

    /// <summary>Uniform values in [lo, hi) from a fixed seed.</summary>
    public static float[] Random(int count, ulong seed, float lo = -1, float hi = 1)
    {
        var rng = new Engine.Core.Rng(seed);
        var v = new float[count];
        for (int i = 0; i < count; i++) v[i] = lo + (hi - lo) * rng.NextFloat();
        return v;
    }
}
