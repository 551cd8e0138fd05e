using Engine.Backends;
using Engine.Cpu;
using Engine.Tests.Backends;
using NUnit.Framework;

namespace Engine.Tests.OpenCL;

/// <summary>The primitive set on the first OpenCL device (PoCL in CI), against the CPU.</summary>
[TestFixture]
[NonParallelizable]
public class OpenCLPrimitiveTests : BackendPrimitiveTests
{
    protected override IBackend Backend => OpenCLTestDevice.Backend;

    [Test]
    public void ClBlastAgreesWithBlasWhenInstalled()
    {
        var backend = OpenCLTestDevice.Backend;
        if (!Engine.OpenCL.ClBlast.TryLoad()) Assert.Ignore("CLBlast is optional and not installed (Debian: libclblast1)");
        int m = 19, n = 23, k = 17;
        var a = Random(k * m, 31);
        var b = Random(n * k, 32);
        var c = Random(m * n, 33);
        var expected = (float[])c.Clone();
        Blas.Sgemm(true, true, m, n, k, 0.5f, a, b, 2f, expected);
        using var da = backend.Context.Allocate(a.Length);
        using var db = backend.Context.Allocate(b.Length);
        using var dc = backend.Context.Allocate(c.Length);
        backend.Context.Write(da, 0, a);
        backend.Context.Write(db, 0, b);
        backend.Context.Write(dc, 0, c);
        Engine.OpenCL.ClBlast.Sgemm(backend.Context, true, true, m, n, k, 0.5f, da, 0, m, db, 0, k, 2f, dc, 0, n);
        AssertClose(Download(dc.All), expected, "CLBlast TT");
    }
}

/// <summary>
/// The primitive set with the other GEMM kernel than the device's default (on PoCL, a CPU device,
/// the default is the direct kernel, so this runs the tiled one that GPUs get), on the same context.
/// </summary>
[TestFixture]
[NonParallelizable]
public class OpenCLOtherGemmKernelTests : BackendPrimitiveTests
{
    private static OpenCLBackend? _other;

    protected override IBackend Backend
    {
        get
        {
            var main = OpenCLTestDevice.Backend;
            return _other ??= new OpenCLBackend(main.Context, main.GemmKernel == "direct" ? "tiled" : "direct");
        }
    }

    [Test]
    public void RunsTheOtherKernel() =>
        Assert.That(((OpenCLBackend)Backend).GemmKernel, Is.Not.EqualTo(OpenCLTestDevice.Backend.GemmKernel));
}
