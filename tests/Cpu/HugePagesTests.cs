using System.Globalization;
using Engine.Cpu;
using NUnit.Framework;

namespace Engine.Tests.Cpu;

[TestFixture]
public unsafe class HugePagesTests
{
    [Test]
    public void BuffersAreAlignedToAHugePageAndWritableToTheEnd([Values(1, 4096, 5 << 20)] int bytes)
    {
        byte* p = (byte*)HugePages.Alloc((nuint)bytes, out _);
        try
        {
            Assert.That((nuint)p % HugePages.Size, Is.EqualTo((nuint)0));
            var span = new Span<byte>(p, bytes);
            span.Fill(7);
            Assert.That(span.IndexOfAnyExcept((byte)7), Is.EqualTo(-1));
        }
        finally
        {
            HugePages.Free(p);
        }
    }

    /// <summary>Where the kernel offers transparent huge pages, the buffer's mapping is marked
    /// eligible for them (the kernel's own report in /proc/self/smaps).</summary>
    [Test]
    public void LinuxMarksTheBufferEligibleForHugePages()
    {
        const string thp = "/sys/kernel/mm/transparent_hugepage/enabled";
        if (!OperatingSystem.IsLinux() || !File.Exists(thp) || File.ReadAllText(thp).Contains("[never]"))
            Assert.Ignore("no transparent huge pages on this machine");
        if (File.ReadLines("/proc/self/status").Any(l => l.StartsWith("THP_enabled:") && l.EndsWith("0")))
            Assert.Ignore("transparent huge pages are switched off for this process (prctl)");
        if (!File.ReadLines("/proc/self/smaps").Any(l => l.StartsWith("THPeligible:")))
            Assert.Ignore("this kernel's /proc/self/smaps has no THPeligible field");

        byte* p = (byte*)HugePages.Alloc(3 << 20, out bool advised);
        try
        {
            Assert.That(advised, Is.True, "madvise(MADV_HUGEPAGE) refused");
            Assert.That(EligibleFlag((nuint)p), Is.EqualTo("1"));
        }
        finally
        {
            HugePages.Free(p);
        }
    }

    /// <summary>The THPeligible field of the mapping in /proc/self/smaps that holds <paramref name="address"/>.</summary>
    private static string? EligibleFlag(nuint address)
    {
        bool inside = false;
        foreach (var line in File.ReadLines("/proc/self/smaps"))
        {
            int dash = line.IndexOf('-');
            int space = line.IndexOf(' ');
            if (dash > 0 && space > dash
                && ulong.TryParse(line.AsSpan(0, dash), NumberStyles.HexNumber, null, out ulong start)
                && ulong.TryParse(line.AsSpan(dash + 1, space - dash - 1), NumberStyles.HexNumber, null, out ulong end))
            {
                inside = start <= address && address < end;
                continue;
            }
            if (inside && line.StartsWith("THPeligible:"))
                return line["THPeligible:".Length..].Trim();
        }
        return null;
    }
}
