using System.Runtime.InteropServices;
using System.Text;

namespace Engine.OpenCL;

/// <summary>
/// The few OpenCL 1.2 entry points the engine uses, bound by hand through <see cref="NativeLibrary"/>
/// (no binding package): the system's ICD loader is loaded on first use, so a machine without
/// OpenCL never touches it until a command asks for a device. Every call that returns a status
/// goes through <see cref="Check"/>, which turns an error into an <see cref="OpenCLException"/>
/// naming the call and the CL error.
/// </summary>
internal static unsafe class Native
{
    // Platform and device queries.
    public const uint PlatformVersion = 0x0901, PlatformName = 0x0902, PlatformVendor = 0x0903;
    public const ulong DeviceTypeAll = 0xFFFFFFFF;
    public const uint DeviceType = 0x1000, DeviceMaxComputeUnits = 0x1002, DeviceMaxWorkGroupSize = 0x1004,
        DeviceMaxMemAllocSize = 0x1010, DeviceGlobalMemSize = 0x101F, DeviceLocalMemSize = 0x1023,
        DeviceAvailable = 0x1027, DeviceName = 0x102B, DeviceVendor = 0x102C, DriverVersion = 0x102D,
        DeviceVersion = 0x102F, DeviceExtensions = 0x1030, DeviceDoubleFpConfig = 0x1032, DeviceOpenCLCVersion = 0x103D;
    public const nint ContextPlatform = 0x1084;
    public const ulong MemReadWrite = 1;
    public const uint ProgramBinarySizes = 0x1165, ProgramBinaries = 0x1166, ProgramBuildLog = 0x1183;
    public const int DeviceNotFound = -1, PlatformNotFoundKhr = -1001, BuildProgramFailure = -11;

    /// <summary>The loaded entry points.</summary>
    internal sealed class Api
    {
        public delegate* unmanaged<uint, nint*, uint*, int> GetPlatformIDs;
        public delegate* unmanaged<nint, uint, nuint, void*, nuint*, int> GetPlatformInfo;
        public delegate* unmanaged<nint, ulong, uint, nint*, uint*, int> GetDeviceIDs;
        public delegate* unmanaged<nint, uint, nuint, void*, nuint*, int> GetDeviceInfo;
        public delegate* unmanaged<nint*, uint, nint*, nint, nint, int*, nint> CreateContext;
        public delegate* unmanaged<nint, int> ReleaseContext;
        public delegate* unmanaged<nint, nint, ulong, int*, nint> CreateCommandQueue;
        public delegate* unmanaged<nint, int> ReleaseCommandQueue;
        public delegate* unmanaged<nint, int> Finish;
        public delegate* unmanaged<nint, int> Flush;
        public delegate* unmanaged<nint, ulong, nuint, void*, int*, nint> CreateBuffer;
        public delegate* unmanaged<nint, int> ReleaseMemObject;
        public delegate* unmanaged<nint, nint, uint, nuint, nuint, void*, uint, nint*, nint*, int> EnqueueWriteBuffer;
        public delegate* unmanaged<nint, nint, uint, nuint, nuint, void*, uint, nint*, nint*, int> EnqueueReadBuffer;
        public delegate* unmanaged<nint, nint, nint, nuint, nuint, nuint, uint, nint*, nint*, int> EnqueueCopyBuffer;
        public delegate* unmanaged<nint, nint, void*, nuint, nuint, nuint, uint, nint*, nint*, int> EnqueueFillBuffer;
        public delegate* unmanaged<nint, uint, byte**, nuint*, int*, nint> CreateProgramWithSource;
        public delegate* unmanaged<nint, uint, nint*, nuint*, byte**, int*, int*, nint> CreateProgramWithBinary;
        public delegate* unmanaged<nint, uint, nint*, byte*, nint, nint, int> BuildProgram;
        public delegate* unmanaged<nint, nint, uint, nuint, void*, nuint*, int> GetProgramBuildInfo;
        public delegate* unmanaged<nint, uint, nuint, void*, nuint*, int> GetProgramInfo;
        public delegate* unmanaged<nint, int> ReleaseProgram;
        public delegate* unmanaged<nint, byte*, int*, nint> CreateKernel;
        public delegate* unmanaged<nint, int> ReleaseKernel;
        public delegate* unmanaged<nint, uint, nuint, void*, int> SetKernelArg;
        public delegate* unmanaged<nint, nint, uint, nuint*, nuint*, nuint*, uint, nint*, nint*, int> EnqueueNDRangeKernel;
        public delegate* unmanaged<uint, nint*, int> WaitForEvents;
        public delegate* unmanaged<nint, int> ReleaseEvent;
    }

    private static readonly Lock Gate = new();
    private static Api? _api;
    private static string? _loadError;

    /// <summary>The library names tried, in order, for this operating system.</summary>
    internal static string[] LibraryNames =>
        OperatingSystem.IsWindows() ? ["OpenCL.dll"]
        : OperatingSystem.IsMacOS() ? ["/System/Library/Frameworks/OpenCL.framework/OpenCL"]
        : ["libOpenCL.so.1", "libOpenCL.so"];

    /// <summary>The entry points, or null when no OpenCL library loads (<see cref="LoadError"/> says why).</summary>
    internal static Api? TryLoad()
    {
        lock (Gate)
        {
            if (_api != null || _loadError != null) return _api;
            nint lib = 0;
            foreach (var name in LibraryNames)
                if (NativeLibrary.TryLoad(name, out lib)) break;
            if (lib == 0)
            {
                _loadError = $"no OpenCL library ({string.Join(", ", LibraryNames)}) could be loaded";
                return null;
            }
            try
            {
                _api = Bind(lib);
            }
            catch (EntryPointNotFoundException e)
            {
                _loadError = $"the OpenCL library lacks an OpenCL 1.2 entry point: {e.Message}";
            }
            return _api;
        }
    }

    internal static string? LoadError
    {
        get { lock (Gate) return _loadError; }
    }

    /// <summary>The entry points; throws when OpenCL is absent (callers check <see cref="TryLoad"/> first).</summary>
    internal static Api Cl => TryLoad() ?? throw new EngineException($"OpenCL: {LoadError}");

    private static Api Bind(nint lib)
    {
        nint F(string name) => NativeLibrary.GetExport(lib, name);
        return new Api
        {
            GetPlatformIDs = (delegate* unmanaged<uint, nint*, uint*, int>)F("clGetPlatformIDs"),
            GetPlatformInfo = (delegate* unmanaged<nint, uint, nuint, void*, nuint*, int>)F("clGetPlatformInfo"),
            GetDeviceIDs = (delegate* unmanaged<nint, ulong, uint, nint*, uint*, int>)F("clGetDeviceIDs"),
            GetDeviceInfo = (delegate* unmanaged<nint, uint, nuint, void*, nuint*, int>)F("clGetDeviceInfo"),
            CreateContext = (delegate* unmanaged<nint*, uint, nint*, nint, nint, int*, nint>)F("clCreateContext"),
            ReleaseContext = (delegate* unmanaged<nint, int>)F("clReleaseContext"),
            CreateCommandQueue = (delegate* unmanaged<nint, nint, ulong, int*, nint>)F("clCreateCommandQueue"),
            ReleaseCommandQueue = (delegate* unmanaged<nint, int>)F("clReleaseCommandQueue"),
            Finish = (delegate* unmanaged<nint, int>)F("clFinish"),
            Flush = (delegate* unmanaged<nint, int>)F("clFlush"),
            CreateBuffer = (delegate* unmanaged<nint, ulong, nuint, void*, int*, nint>)F("clCreateBuffer"),
            ReleaseMemObject = (delegate* unmanaged<nint, int>)F("clReleaseMemObject"),
            EnqueueWriteBuffer = (delegate* unmanaged<nint, nint, uint, nuint, nuint, void*, uint, nint*, nint*, int>)F("clEnqueueWriteBuffer"),
            EnqueueReadBuffer = (delegate* unmanaged<nint, nint, uint, nuint, nuint, void*, uint, nint*, nint*, int>)F("clEnqueueReadBuffer"),
            EnqueueCopyBuffer = (delegate* unmanaged<nint, nint, nint, nuint, nuint, nuint, uint, nint*, nint*, int>)F("clEnqueueCopyBuffer"),
            EnqueueFillBuffer = (delegate* unmanaged<nint, nint, void*, nuint, nuint, nuint, uint, nint*, nint*, int>)F("clEnqueueFillBuffer"),
            CreateProgramWithSource = (delegate* unmanaged<nint, uint, byte**, nuint*, int*, nint>)F("clCreateProgramWithSource"),
            CreateProgramWithBinary = (delegate* unmanaged<nint, uint, nint*, nuint*, byte**, int*, int*, nint>)F("clCreateProgramWithBinary"),
            BuildProgram = (delegate* unmanaged<nint, uint, nint*, byte*, nint, nint, int>)F("clBuildProgram"),
            GetProgramBuildInfo = (delegate* unmanaged<nint, nint, uint, nuint, void*, nuint*, int>)F("clGetProgramBuildInfo"),
            GetProgramInfo = (delegate* unmanaged<nint, uint, nuint, void*, nuint*, int>)F("clGetProgramInfo"),
            ReleaseProgram = (delegate* unmanaged<nint, int>)F("clReleaseProgram"),
            CreateKernel = (delegate* unmanaged<nint, byte*, int*, nint>)F("clCreateKernel"),
            ReleaseKernel = (delegate* unmanaged<nint, int>)F("clReleaseKernel"),
            SetKernelArg = (delegate* unmanaged<nint, uint, nuint, void*, int>)F("clSetKernelArg"),
            EnqueueNDRangeKernel = (delegate* unmanaged<nint, nint, uint, nuint*, nuint*, nuint*, uint, nint*, nint*, int>)F("clEnqueueNDRangeKernel"),
            WaitForEvents = (delegate* unmanaged<uint, nint*, int>)F("clWaitForEvents"),
            ReleaseEvent = (delegate* unmanaged<nint, int>)F("clReleaseEvent"),
        };
    }

    /// <summary>Throws an <see cref="OpenCLException"/> naming <paramref name="call"/> when <paramref name="status"/> is an error.</summary>
    public static void Check(int status, string call)
    {
        if (status != 0) throw new OpenCLException(call, status);
    }

    /// <summary>A string-valued info query (platform or device), with the trailing NUL removed.</summary>
    public static string InfoString(delegate* unmanaged<nint, uint, nuint, void*, nuint*, int> query, nint handle, uint param, string call)
    {
        nuint size;
        Check(query(handle, param, 0, null, &size), call);
        if (size == 0) return "";
        var bytes = new byte[(int)size];
        fixed (byte* p = bytes) Check(query(handle, param, size, p, null), call);
        return Encoding.UTF8.GetString(bytes).TrimEnd('\0').Trim();
    }

    /// <summary>A fixed-size value query (cl_uint, cl_ulong, size_t, bitfields).</summary>
    public static T InfoValue<T>(delegate* unmanaged<nint, uint, nuint, void*, nuint*, int> query, nint handle, uint param, string call)
        where T : unmanaged
    {
        T value = default;
        Check(query(handle, param, (nuint)sizeof(T), &value, null), call);
        return value;
    }

    private static readonly Dictionary<int, string> ErrorNames = new()
    {
        [0] = "CL_SUCCESS",
        [-1] = "CL_DEVICE_NOT_FOUND",
        [-2] = "CL_DEVICE_NOT_AVAILABLE",
        [-3] = "CL_COMPILER_NOT_AVAILABLE",
        [-4] = "CL_MEM_OBJECT_ALLOCATION_FAILURE",
        [-5] = "CL_OUT_OF_RESOURCES",
        [-6] = "CL_OUT_OF_HOST_MEMORY",
        [-7] = "CL_PROFILING_INFO_NOT_AVAILABLE",
        [-8] = "CL_MEM_COPY_OVERLAP",
        [-9] = "CL_IMAGE_FORMAT_MISMATCH",
        [-10] = "CL_IMAGE_FORMAT_NOT_SUPPORTED",
        [-11] = "CL_BUILD_PROGRAM_FAILURE",
        [-12] = "CL_MAP_FAILURE",
        [-13] = "CL_MISALIGNED_SUB_BUFFER_OFFSET",
        [-14] = "CL_EXEC_STATUS_ERROR_FOR_EVENTS_IN_WAIT_LIST",
        [-15] = "CL_COMPILE_PROGRAM_FAILURE",
        [-16] = "CL_LINKER_NOT_AVAILABLE",
        [-17] = "CL_LINK_PROGRAM_FAILURE",
        [-18] = "CL_DEVICE_PARTITION_FAILED",
        [-19] = "CL_KERNEL_ARG_INFO_NOT_AVAILABLE",
        [-30] = "CL_INVALID_VALUE",
        [-31] = "CL_INVALID_DEVICE_TYPE",
        [-32] = "CL_INVALID_PLATFORM",
        [-33] = "CL_INVALID_DEVICE",
        [-34] = "CL_INVALID_CONTEXT",
        [-35] = "CL_INVALID_QUEUE_PROPERTIES",
        [-36] = "CL_INVALID_COMMAND_QUEUE",
        [-37] = "CL_INVALID_HOST_PTR",
        [-38] = "CL_INVALID_MEM_OBJECT",
        [-39] = "CL_INVALID_IMAGE_FORMAT_DESCRIPTOR",
        [-40] = "CL_INVALID_IMAGE_SIZE",
        [-41] = "CL_INVALID_SAMPLER",
        [-42] = "CL_INVALID_BINARY",
        [-43] = "CL_INVALID_BUILD_OPTIONS",
        [-44] = "CL_INVALID_PROGRAM",
        [-45] = "CL_INVALID_PROGRAM_EXECUTABLE",
        [-46] = "CL_INVALID_KERNEL_NAME",
        [-47] = "CL_INVALID_KERNEL_DEFINITION",
        [-48] = "CL_INVALID_KERNEL",
        [-49] = "CL_INVALID_ARG_INDEX",
        [-50] = "CL_INVALID_ARG_VALUE",
        [-51] = "CL_INVALID_ARG_SIZE",
        [-52] = "CL_INVALID_KERNEL_ARGS",
        [-53] = "CL_INVALID_WORK_DIMENSION",
        [-54] = "CL_INVALID_WORK_GROUP_SIZE",
        [-55] = "CL_INVALID_WORK_ITEM_SIZE",
        [-56] = "CL_INVALID_GLOBAL_OFFSET",
        [-57] = "CL_INVALID_EVENT_WAIT_LIST",
        [-58] = "CL_INVALID_EVENT",
        [-59] = "CL_INVALID_OPERATION",
        [-60] = "CL_INVALID_GL_OBJECT",
        [-61] = "CL_INVALID_BUFFER_SIZE",
        [-62] = "CL_INVALID_MIP_LEVEL",
        [-63] = "CL_INVALID_GLOBAL_WORK_SIZE",
        [-64] = "CL_INVALID_PROPERTY",
        [-65] = "CL_INVALID_IMAGE_DESCRIPTOR",
        [-66] = "CL_INVALID_COMPILER_OPTIONS",
        [-67] = "CL_INVALID_LINKER_OPTIONS",
        [-68] = "CL_INVALID_DEVICE_PARTITION_COUNT",
        [-69] = "CL_INVALID_PIPE_SIZE",
        [-70] = "CL_INVALID_DEVICE_QUEUE",
        [-71] = "CL_INVALID_SPEC_ID",
        [-72] = "CL_MAX_SIZE_RESTRICTION_EXCEEDED",
        [-1001] = "CL_PLATFORM_NOT_FOUND_KHR",
    };

    /// <summary>The CL name of a status code (or CLBlast's name for one of its own), else "CL error N".</summary>
    public static string ErrorName(int status) =>
        ErrorNames.TryGetValue(status, out var n) ? n : ClBlast.StatusName(status) ?? $"CL error {status}";
}

/// <summary>An OpenCL call failed: <see cref="Call"/> returned <see cref="Status"/> (named in the message).</summary>
public sealed class OpenCLException : EngineException
{
    public OpenCLException(string call, int status, string? detail = null)
        : base($"OpenCL: {call} failed with {Native.ErrorName(status)}{(detail != null ? ": " + detail : "")}")
    {
        Call = call;
        Status = status;
    }

    public string Call { get; }
    public int Status { get; }
    public string ErrorName => Native.ErrorName(status: Status);
}
