using System.Runtime.InteropServices;

namespace Engine.Cpu;

/// <summary>
/// Native buffers aligned to 2 MiB and, on Linux, advised to the kernel for transparent huge pages
/// (<c>madvise(MADV_HUGEPAGE)</c>), for the kernels' large scratch that is read over and over:
/// the GEMM's packed B block (4 MiB) is streamed from L3 once per row of tiles, and with 4 KiB pages
/// each pass costs a thousand TLB entries. With huge pages 2048³ ran 3–6% faster on one Zen3 core
/// (alternating calls in one process).
/// </summary>
/// <remarks>
/// Debian's default (<c>/sys/kernel/mm/transparent_hugepage/enabled</c> = <c>madvise</c>) gives huge
/// pages only to memory advised so; where the advice is refused or unknown (THP off, another OS)
/// the buffer is ordinary memory and works the same. A huge page is backed whole once touched, so
/// a buffer may take up to 2 MiB more resident memory than the bytes a kernel writes.
/// </remarks>
internal static unsafe class HugePages
{
    /// <summary>The huge-page size on x86-64 and most Arm64 kernels, and the buffers' alignment.</summary>
    public const nuint Size = 2 << 20;

    private const int MadvHugePage = 14;

    private static readonly delegate* unmanaged<nint, nuint, int, int> madvise = FindMadvise();

    private static delegate* unmanaged<nint, nuint, int, int> FindMadvise()
    {
        if (!OperatingSystem.IsLinux()) return null;
        foreach (var name in (ReadOnlySpan<string>)["libc.so.6", "libc"])
            if (NativeLibrary.TryLoad(name, out var lib) && NativeLibrary.TryGetExport(lib, "madvise", out var f))
                return (delegate* unmanaged<nint, nuint, int, int>)f;
        return null;
    }

    /// <summary>Allocates <paramref name="bytes"/> rounded up to whole huge pages, 2 MiB aligned and
    /// not cleared; <paramref name="advised"/> says whether the kernel took the huge-page advice.
    /// Free with <see cref="Free"/>.</summary>
    public static void* Alloc(nuint bytes, out bool advised)
    {
        bytes = (Math.Max(bytes, 1) + Size - 1) & ~(Size - 1);
        void* p = NativeMemory.AlignedAlloc(bytes, Size);
        advised = madvise != null && madvise((nint)p, bytes, MadvHugePage) == 0;
        return p;
    }

    private const string ThpSetting = "/sys/kernel/mm/transparent_hugepage/enabled";

    /// <summary>One line on what this machine gives the buffers, for <c>engine device-query</c>:
    /// the kernel's transparent-huge-page mode (the bracketed word of its setting) and whether the
    /// advice can be given.</summary>
    public static string Describe()
    {
        if (!OperatingSystem.IsLinux()) return "not used on this OS (ordinary pages)";
        string? mode = null;
        try
        {
            string setting = File.ReadAllText(ThpSetting);
            int open = setting.IndexOf('['), close = setting.IndexOf(']');
            if (open >= 0 && close > open) mode = setting[(open + 1)..close];
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
        if (mode == null) return $"no transparent huge pages here ({ThpSetting} unreadable; ordinary pages)";
        if (mode == "never") return "transparent huge pages off (mode never; ordinary pages)";
        return madvise == null
            ? $"transparent huge pages mode {mode}; madvise not found, GEMM buffers not advised"
            : $"transparent huge pages mode {mode}; GEMM pack buffers advised for them";
    }

    /// <summary>Frees a buffer from <see cref="Alloc"/>.</summary>
    public static void Free(void* p) => NativeMemory.AlignedFree(p);
}
