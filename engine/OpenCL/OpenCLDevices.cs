namespace Engine.OpenCL;

/// <summary>One OpenCL device as `engine device-query` shows it. <see cref="Index"/> is the N of
/// `--gpu N`: devices counted over all platforms, in the order the ICD loader lists them.</summary>
public sealed record OpenCLDeviceInfo(
    int Index, string Name, string Vendor, string Platform, string PlatformVersion, string DriverVersion,
    string DeviceVersion, string Type, int ComputeUnits, long GlobalMemory, long LocalMemory, long MaxAllocation,
    bool Fp64, long MaxWorkGroupSize, string OpenCLCVersion)
{
    internal nint PlatformId { get; init; }
    internal nint DeviceId { get; init; }

    /// <summary>"Platform: device", the name a warning or log line uses.</summary>
    public string Describe() => $"{Platform}: {Name}";
}

/// <summary>
/// The OpenCL devices of this machine, found once per process. No OpenCL library, no platform or
/// no device all give an empty list and a reason (<see cref="WhyNone"/>), never an exception.
/// </summary>
public static unsafe class OpenCLDevices
{
    private static readonly Lazy<(IReadOnlyList<OpenCLDeviceInfo> devices, string? why)> Scan = new(Enumerate);

    /// <summary>Every device of every platform, in `--gpu N` order.</summary>
    public static IReadOnlyList<OpenCLDeviceInfo> All => Scan.Value.devices;

    /// <summary>Why <see cref="All"/> is empty ("no OpenCL library … could be loaded", "no OpenCL platform is installed"); null when it is not.</summary>
    public static string? WhyNone => Scan.Value.why;

    private static (IReadOnlyList<OpenCLDeviceInfo>, string?) Enumerate()
    {
        var cl = Native.TryLoad();
        if (cl == null) return ([], Native.LoadError);
        try
        {
            uint count;
            int rc = cl.GetPlatformIDs(0, null, &count);
            if (rc == Native.PlatformNotFoundKhr || (rc == 0 && count == 0)) return ([], "the ICD loader lists no OpenCL platform");
            Native.Check(rc, "clGetPlatformIDs");
            var platforms = new nint[count];
            fixed (nint* p = platforms) Native.Check(cl.GetPlatformIDs(count, p, null), "clGetPlatformIDs");
            var list = new List<OpenCLDeviceInfo>();
            foreach (var platform in platforms)
            {
                string platformName = Native.InfoString(cl.GetPlatformInfo, platform, Native.PlatformName, "clGetPlatformInfo(CL_PLATFORM_NAME)");
                string platformVersion = Native.InfoString(cl.GetPlatformInfo, platform, Native.PlatformVersion, "clGetPlatformInfo(CL_PLATFORM_VERSION)");
                uint n;
                rc = cl.GetDeviceIDs(platform, Native.DeviceTypeAll, 0, null, &n);
                if (rc == Native.DeviceNotFound || n == 0) continue;
                Native.Check(rc, "clGetDeviceIDs");
                var ids = new nint[n];
                fixed (nint* p = ids) Native.Check(cl.GetDeviceIDs(platform, Native.DeviceTypeAll, n, p, null), "clGetDeviceIDs");
                foreach (var id in ids) list.Add(Describe(cl, list.Count, platform, platformName, platformVersion, id));
            }
            return (list, list.Count == 0 ? "the OpenCL platforms list no device" : null);
        }
        catch (OpenCLException e)
        {
            return ([], e.Message);
        }
    }

    private static OpenCLDeviceInfo Describe(Native.Api cl, int index, nint platform, string platformName, string platformVersion, nint id)
    {
        var q = cl.GetDeviceInfo;
        string S(uint param, string name) => Native.InfoString(q, id, param, $"clGetDeviceInfo({name})");
        T V<T>(uint param, string name) where T : unmanaged => Native.InfoValue<T>(q, id, param, $"clGetDeviceInfo({name})");
        ulong type = V<ulong>(Native.DeviceType, "CL_DEVICE_TYPE");
        bool fp64;
        try { fp64 = V<ulong>(Native.DeviceDoubleFpConfig, "CL_DEVICE_DOUBLE_FP_CONFIG") != 0; }
        catch (OpenCLException) { fp64 = false; }
        fp64 |= S(Native.DeviceExtensions, "CL_DEVICE_EXTENSIONS").Split(' ').Contains("cl_khr_fp64");
        string cVersion;
        try { cVersion = S(Native.DeviceOpenCLCVersion, "CL_DEVICE_OPENCL_C_VERSION"); }
        catch (OpenCLException) { cVersion = "OpenCL C 1.0"; } // an OpenCL 1.0 device has no such query
        return new OpenCLDeviceInfo(
            index, S(Native.DeviceName, "CL_DEVICE_NAME"), S(Native.DeviceVendor, "CL_DEVICE_VENDOR"), platformName, platformVersion,
            S(Native.DriverVersion, "CL_DRIVER_VERSION"), S(Native.DeviceVersion, "CL_DEVICE_VERSION"), TypeName(type),
            (int)V<uint>(Native.DeviceMaxComputeUnits, "CL_DEVICE_MAX_COMPUTE_UNITS"),
            (long)V<ulong>(Native.DeviceGlobalMemSize, "CL_DEVICE_GLOBAL_MEM_SIZE"),
            (long)V<ulong>(Native.DeviceLocalMemSize, "CL_DEVICE_LOCAL_MEM_SIZE"),
            (long)V<ulong>(Native.DeviceMaxMemAllocSize, "CL_DEVICE_MAX_MEM_ALLOC_SIZE"),
            fp64, (long)V<nuint>(Native.DeviceMaxWorkGroupSize, "CL_DEVICE_MAX_WORK_GROUP_SIZE"), cVersion)
        { PlatformId = platform, DeviceId = id };
    }

    internal static string TypeName(ulong type)
    {
        var names = new List<string>();
        if ((type & 4) != 0) names.Add("GPU");
        if ((type & 2) != 0) names.Add("CPU");
        if ((type & 8) != 0) names.Add("accelerator");
        if ((type & 16) != 0) names.Add("custom");
        if ((type & 1) != 0 && names.Count == 0) names.Add("default");
        return names.Count == 0 ? $"unknown ({type})" : string.Join(", ", names);
    }
}
