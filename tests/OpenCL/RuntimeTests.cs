using Engine.OpenCL;
using NUnit.Framework;
using static Engine.Tests.OpenCL.OpenCLTestDevice;

namespace Engine.Tests.OpenCL;

/// <summary>Buffers, transfers, errors and the on-disk program cache.</summary>
[TestFixture]
[NonParallelizable]
public class RuntimeTests
{
    [Test]
    public void BlockingAndNonBlockingTransfersRoundTrip()
    {
        var context = Backend.Context;
        var values = Random(4099, 42);
        using var buffer = context.Allocate(values.Length + 8);
        context.Fill(buffer, 0, buffer.Count, -7f);
        context.Write(buffer, 8, values);
        var back = new float[values.Length + 8];
        context.Read(buffer, 0, back);
        Assert.That(back[..8], Is.All.EqualTo(-7f));
        Assert.That(back[8..], Is.EqualTo(values));

        // Non-blocking: upload part of an array, compute on it in order, read it back asynchronously.
        var host = Random(1000, 43);
        using var other = context.Allocate(500);
        using (var up = context.WriteAsync(other, 0, host, 250, 500)) up.Wait();
        Backend.Scale(2f, other.All, other.All);
        var result = new float[600];
        using (var down = context.ReadAsync(other, 0, result, 100, 500)) down.Wait();
        for (int i = 0; i < 500; i++) Assert.That(result[100 + i], Is.EqualTo(2f * host[250 + i]), $"[{i}]");
        Assert.That(result[..100], Is.All.EqualTo(0f));

        // Device-to-device copy.
        context.Copy(buffer, 8, other, 0, 500);
        var copied = new float[500];
        context.Read(other, 0, copied);
        Assert.That(copied, Is.EqualTo(values[..500]));
    }

    [Test]
    public void OutOfRangeTransfersAreRefusedBeforeTheDriver()
    {
        var context = Backend.Context;
        using var buffer = context.Allocate(10);
        Assert.Throws<ArgumentOutOfRangeException>(() => context.Write(buffer, 5, new float[6]));
        Assert.Throws<ArgumentOutOfRangeException>(() => context.Read(buffer, -1, new float[2]));
    }

    [Test]
    public void ABuildFailureNamesTheCallTheErrorAndCarriesTheLog()
    {
        var context = Backend.Context;
        var e = Assert.Throws<OpenCLException>(() =>
            context.BuildFromSource("__kernel void broken(__global float* x) { x[0] = undefined_name; }", "", "broken.cl"))!;
        Assert.That(e.Message, Does.StartWith("OpenCL: clBuildProgram(broken.cl) failed with CL_BUILD_PROGRAM_FAILURE"));
        Assert.That(e.Message, Does.Contain("undefined_name"), "the build log");
        Assert.That(e, Is.InstanceOf<EngineException>(), "the CLI prints it as one line");
    }

    [Test]
    public void ErrorCodesAreNamed()
    {
        Assert.That(new OpenCLException("clEnqueueNDRangeKernel(x)", -5).Message,
            Is.EqualTo("OpenCL: clEnqueueNDRangeKernel(x) failed with CL_OUT_OF_RESOURCES"));
        Assert.That(new OpenCLException("clCreateBuffer", -61).ErrorName, Is.EqualTo("CL_INVALID_BUFFER_SIZE"));
        Assert.That(new OpenCLException("clFoo", -9999).ErrorName, Is.EqualTo("CL error -9999"));
    }

    [Test]
    public void KernelsAreEmbeddedAndBuildOncePerContext()
    {
        Assert.That(KernelSources.Names, Is.SupersetOf(new[] { "gemm", "im2col", "elementwise", "pooling" }));
        var programs = Backend.Warm();
        Assert.That(programs.Select(p => p.Name), Is.EqualTo(KernelSources.Names.Order(StringComparer.Ordinal)), "every embedded program");
        Assert.That(Backend.Warm(), Is.EqualTo(programs).AsCollection, "the same program objects the second time");
    }

    // A tiny program, so the cache tests cost little compilation.
    private const string TinySource = "__kernel void twice(__global float* x) { size_t i = get_global_id(0); x[i] = 2.0f * x[i]; }";

    [Test]
    public void TheDiskCacheIsHitByASecondContextAndACorruptEntryIsRebuilt()
    {
        var dir = Path.Combine(Path.GetTempPath(), "engine-opencl-cache-" + Guid.NewGuid().ToString("N"));
        try
        {
            var cache = new ProgramCache(dir);
            var path = cache.EntryPath(Device, "tiny", TinySource, "-DX=1")!;

            OpenCLProgram Build()
            {
                using var context = new OpenCLContext(Device, cache);
                var program = cache.Build(context, "tiny", TinySource, "-DX=1");
                using var buffer = context.Allocate(3);
                context.Write(buffer, 0, [1f, 2f, 3f]);
                program.Kernel("twice").Launch([3], [], buffer);
                var result = new float[3];
                context.Read(buffer, 0, result);
                Assert.That(result, Is.EqualTo(new[] { 2f, 4f, 6f }), "the program runs");
                program.Release();
                return program;
            }

            Assert.That(Build().FromCache, Is.False, "first build compiles");
            Assert.That(File.Exists(path), "the binary is written");
            Assert.That(Directory.GetFiles(dir).Where(f => f.EndsWith(".tmp", StringComparison.Ordinal)), Is.Empty, "no temporary file left");
            Assert.That(Build().FromCache, Is.True, "a new context (as a new process) loads the binary");

            // Another source, options or device gives another entry.
            Assert.That(cache.EntryPath(Device, "tiny", TinySource + " ", "-DX=1"), Is.Not.EqualTo(path));
            Assert.That(cache.EntryPath(Device, "tiny", TinySource, "-DX=2"), Is.Not.EqualTo(path));
            Assert.That(cache.EntryPath(Device with { DriverVersion = "other" }, "tiny", TinySource, "-DX=1"), Is.Not.EqualTo(path));

            // Corrupt the binary (flip bytes past the header): it is rebuilt, and the entry repaired.
            var bytes = File.ReadAllBytes(path);
            for (int i = bytes.Length / 2; i < bytes.Length / 2 + 16; i++) bytes[i] ^= 0x5A;
            File.WriteAllBytes(path, bytes);
            Assert.That(Build().FromCache, Is.False, "a corrupt entry is compiled again");
            Assert.That(Build().FromCache, Is.True, "and written back whole");

            // A truncated entry too.
            File.WriteAllBytes(path, File.ReadAllBytes(path)[..20]);
            Assert.That(Build().FromCache, Is.False, "a truncated entry is compiled again");
        }
        finally
        {
            if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
        }
    }

    [Test]
    public void TheCacheFolderFollowsTheEnvironment()
    {
        var (engine, xdg) = (Environment.GetEnvironmentVariable("ENGINE_OPENCL_CACHE"), Environment.GetEnvironmentVariable("XDG_CACHE_HOME"));
        try
        {
            Environment.SetEnvironmentVariable("ENGINE_OPENCL_CACHE", "/tmp/a");
            Environment.SetEnvironmentVariable("XDG_CACHE_HOME", "/tmp/b");
            Assert.That(ProgramCache.DefaultDirectory(), Is.EqualTo("/tmp/a"));
            Environment.SetEnvironmentVariable("ENGINE_OPENCL_CACHE", null);
            Assert.That(ProgramCache.DefaultDirectory(), Is.EqualTo(Path.Combine("/tmp/b", "engine", "opencl")));
            Environment.SetEnvironmentVariable("XDG_CACHE_HOME", null);
            if (!OperatingSystem.IsWindows())
                Assert.That(ProgramCache.DefaultDirectory(), Is.EqualTo(Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache", "engine", "opencl")));
        }
        finally
        {
            Environment.SetEnvironmentVariable("ENGINE_OPENCL_CACHE", engine);
            Environment.SetEnvironmentVariable("XDG_CACHE_HOME", xdg);
        }
    }
}
