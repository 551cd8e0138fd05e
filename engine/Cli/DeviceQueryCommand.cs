using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using Engine.Core;
using Engine.Cpu;
using Engine.OpenCL;
using X86 = System.Runtime.Intrinsics.X86;
using Arm = System.Runtime.Intrinsics.Arm;

namespace Engine.Cli;

/// <summary>`engine device-query`: the CPU features the kernels use (Caffe's device_query, for the CPU).</summary>
internal static class DeviceQueryCommand
{
    private static readonly Args.Flag[] Flags = [new("gpu", "show only OpenCL device N (its index in the full list)")];

    public static int Run(string[] argv)
    {
        var args = new Args("device-query", Flags, argv);
        if (args.Help)
        {
            Console.WriteLine(Args.Usage("device-query", "", "Prints the CPU, its vector features, the GEMM kernel the engine picks and its huge-page use, then every OpenCL platform and device (N is the N of --gpu N).", Flags));
            return 0;
        }
        // An unknown --gpu is an error before anything is printed.
        var only = args.Get("gpu") is { } gpu ? DeviceSelection.FromFlag(gpu).Device : null;
        static string YesNo(bool b) => b ? "yes" : "no";
        Console.WriteLine($"CPU: {CpuModel() ?? "unknown"}");
        Console.WriteLine($"Architecture: {RuntimeInformation.ProcessArchitecture}");
        Console.WriteLine($"Cores: {Environment.ProcessorCount}");
        Console.WriteLine($"Runtime: {RuntimeInformation.FrameworkDescription} on {RuntimeInformation.OSDescription}");
        Console.WriteLine($"Avx2: {YesNo(X86.Avx2.IsSupported)}");
        Console.WriteLine($"Fma: {YesNo(X86.Fma.IsSupported)}");
        Console.WriteLine($"Avx512F: {YesNo(X86.Avx512F.IsSupported)}");
        Console.WriteLine($"AdvSimd: {YesNo(Arm.AdvSimd.IsSupported)}");
        Console.WriteLine($"Vector128 accelerated: {YesNo(Vector128.IsHardwareAccelerated)}");
        Console.WriteLine($"Vector256 accelerated: {YesNo(Vector256.IsHardwareAccelerated)}");
        Console.WriteLine($"Vector512 accelerated: {YesNo(Vector512.IsHardwareAccelerated)}");
        Console.WriteLine($"GEMM kernel: {Describe(Blas.ActiveKernel)} (best supported: {Describe(Blas.BestKernel)})");
        Console.WriteLine($"Huge pages: {HugePages.Describe()}");
        Console.WriteLine();
        PrintOpenCL(only);
        return 0;
    }

    /// <summary>The OpenCL section: one block per device, in `--gpu N` order, or one line saying none was found.</summary>
    private static void PrintOpenCL(OpenCLDeviceInfo? only)
    {
        var devices = only != null ? [only] : OpenCLDevices.All;
        if (devices.Count == 0)
        {
            Console.WriteLine($"OpenCL: no OpenCL device found ({OpenCLDevices.WhyNone})");
            return;
        }
        Console.WriteLine($"OpenCL devices: {OpenCLDevices.All.Count}");
        foreach (var d in devices)
        {
            Console.WriteLine($"Device {d.Index} (--gpu {d.Index})");
            Console.WriteLine($"  Name: {d.Name}");
            Console.WriteLine($"  Vendor: {d.Vendor}");
            Console.WriteLine($"  Platform: {d.Platform} ({d.PlatformVersion})");
            Console.WriteLine($"  Device version: {d.DeviceVersion}");
            Console.WriteLine($"  Driver version: {d.DriverVersion}");
            Console.WriteLine($"  Type: {d.Type}");
            Console.WriteLine($"  Compute units: {d.ComputeUnits}");
            Console.WriteLine($"  Global memory: {Log.Bytes(d.GlobalMemory)} (largest buffer {Log.Bytes(d.MaxAllocation)})");
            Console.WriteLine($"  Local memory: {Log.Bytes(d.LocalMemory)}");
            Console.WriteLine($"  Fp64: {(d.Fp64 ? "yes" : "no")}");
            Console.WriteLine($"  Max work-group size: {d.MaxWorkGroupSize}");
            Console.WriteLine($"  OpenCL C version: {d.OpenCLCVersion}");
        }
    }

    private static string Describe(Blas.KernelKind kind) => kind switch
    {
        Blas.KernelKind.Vector512 => "Vector512 (AVX-512, 12x32 tiles)",
        Blas.KernelKind.Vector256 => "Vector256 (AVX2+FMA, 6x16 tiles)",
        Blas.KernelKind.Portable => "Portable (128-bit vectors, 4x8 tiles)",
        _ => kind.ToString(),
    };

    /// <summary>The "model name" line of /proc/cpuinfo, when there is one.</summary>
    internal static string? CpuModel()
    {
        try
        {
            if (!File.Exists("/proc/cpuinfo")) return null;
            foreach (var line in File.ReadLines("/proc/cpuinfo"))
                if (line.StartsWith("model name", StringComparison.Ordinal) && line.Contains(':'))
                    return line[(line.IndexOf(':') + 1)..].Trim();
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
        return null;
    }
}
