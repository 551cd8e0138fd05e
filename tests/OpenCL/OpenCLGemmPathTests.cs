using Engine.Backends;
using Engine.OpenCL;
using NUnit.Framework;

namespace Engine.Tests.OpenCL;

/// <summary>
/// Each GEMM path of the OpenCL backend (CLBlast when installed, our tiled kernel, our direct
/// kernel) against a naive triple loop on the host (double accumulation): odd shapes, the four
/// transposes, offsets, padded leading dimensions, batched strides (0 = shared), alpha/beta,
/// beta 0 over NaN, k = 0; and nothing outside C is written. The primitive tests
/// (<see cref="OpenCLPrimitiveTests"/>) run the device's default path.
/// </summary>
[TestFixture("clblast"), TestFixture("tiled"), TestFixture("direct")]
[NonParallelizable]
public class OpenCLGemmPathTests
{
    private static readonly Dictionary<string, OpenCLBackend> Backends = new();
    private readonly string _path;

    public OpenCLGemmPathTests(string path) => _path = path;

    private OpenCLBackend Backend
    {
        get
        {
            var main = OpenCLTestDevice.Backend;
            if (_path == "clblast" && !ClBlast.TryLoad()) Assert.Ignore($"CLBlast is optional and not available: {ClBlast.WhyNot} (Debian: libclblast1)");
            lock (Backends)
            {
                if (!Backends.TryGetValue(_path, out var b))
                    Backends[_path] = b = main.GemmKernel == _path ? main : new OpenCLBackend(main.Context, _path);
                return b;
            }
        }
    }

    [Test]
    public void RunsTheAskedPath() => Assert.That(Backend.GemmKernel, Is.EqualTo(_path));

    private static readonly (int m, int n, int k)[] Shapes = [(1, 1, 1), (7, 5, 3), (33, 65, 17), (64, 1, 130), (1, 70, 9), (67, 66, 65)];

    [TestCase(false, false), TestCase(false, true), TestCase(true, false), TestCase(true, true)]
    public void GemmMatchesNaiveLoop(bool transA, bool transB)
    {
        int seed = 1;
        foreach (var (m, n, k) in Shapes)
            foreach (var (alpha, beta) in new[] { (1f, 0f), (0.5f, -1.5f), (-2f, 1f) })
                Check(1, transA, transB, m, n, k, alpha, beta, padA: seed % 3, padB: (seed + 1) % 4, padC: seed % 5, offset: 3 * (seed++ % 4));
    }

    [TestCase(false, false, 0, 1), TestCase(true, false, 5, 0), TestCase(false, true, 0, 3), TestCase(true, true, 7, 2)]
    public void GemmBatchedMatchesNaiveLoopPerProblem(bool transA, bool transB, int gapA, int gapB)
    {
        // Strides: the matrix plus a gap; gap 0 on A means A is shared (stride 0).
        foreach (var (m, n, k) in new[] { (13, 17, 5), (2, 3, 40), (66, 65, 33) })
            foreach (int batch in new[] { 1, 3, 5 })
                Check(batch, transA, transB, m, n, k, 0.7f, 0.3f, padA: 1, padB: 2, padC: 3, offset: 5, gapA, gapB, shareA: gapA == 0);
    }

    [Test]
    public void LargeGemmMatchesNaiveLoop()
    {
        // Sizes at which CLBlast may switch to its indirect kernel (padded and transposed copies of A and B).
        Check(1, false, true, 517, 515, 513, 1f, 0.5f, padA: 3, padB: 1, padC: 2, offset: 7);
        Check(2, true, false, 300, 290, 310, -0.5f, 0f, padA: 0, padB: 2, padC: 0, offset: 1, gapA: 4, gapB: 3);
    }

    [Test]
    public void KZeroScalesC()
    {
        Check(1, false, false, 9, 11, 0, 1f, -2f, padA: 0, padB: 0, padC: 2, offset: 1);
        Check(3, true, true, 4, 6, 0, 1f, 0.5f, padA: 1, padB: 1, padC: 1, offset: 0, gapA: 2, gapB: 2);
    }

    [Test]
    public void BetaZeroIgnoresNaNInC()
    {
        var backend = Backend;
        int m = 19, n = 21, k = 23;
        var a = OpenCLTestDevice.Random(m * k, 7);
        var b = OpenCLTestDevice.Random(k * n, 8);
        var expected = Enumerable.Repeat(float.NaN, m * n).ToArray();
        Naive(false, false, m, n, k, 1.5f, a, 0, k, b, 0, n, 0f, expected, 0, n);
        foreach (int kk in new[] { k, 0 })
        {
            if (kk == 0) Array.Clear(expected);
            using var da = Put(backend, a);
            using var db = Put(backend, b);
            using var dc = Put(backend, Enumerable.Repeat(float.NaN, m * n).ToArray());
            backend.Gemm(false, false, m, n, kk, 1.5f, da.All, k, db.All, n, 0f, dc.All, n);
            AssertClose(Get(backend, dc), expected, $"{_path}: beta 0 over NaN, k {kk}");
        }
    }

    [Test]
    public void ClBlastErrorsNameTheRoutineAndStatus()
    {
        if (_path != "clblast") Assert.Ignore("CLBlast only");
        var backend = Backend;
        using var a = backend.Context.Allocate(64);
        // lda 3 < k 4: CLBlast's own check (the backend would refuse it before calling).
        var e = Assert.Throws<OpenCLException>(() =>
            ClBlast.Sgemm(backend.Context, false, false, 4, 4, 4, 1f, a, 0, 3, a, 0, 4, 0f, a, 0, 4))!;
        Assert.That(e.Message, Is.EqualTo("OpenCL: CLBlastSgemm failed with CLBlastInvalidLeadDimA"));
        e = Assert.Throws<OpenCLException>(() =>
            ClBlast.SgemmStridedBatched(backend.Context, 3, false, false, 4, 4, 4, 1f, a, 0, 4, 32, a, 0, 4, 32, 0f, a, 0, 4, 32))!;
        Assert.That(e.Message, Is.EqualTo("OpenCL: CLBlastSgemmStridedBatched failed with CLBlastInsufficientMemoryA"));
    }

    /// <summary>
    /// One (batched) GEMM on the device against <see cref="Naive"/>: the buffers hold exactly the
    /// matrices at their offset, leading dimension and stride, filled with random values, so a
    /// write outside C's elements (padding, gaps, before the offset) shows as a mismatch.
    /// </summary>
    private void Check(int batch, bool transA, bool transB, int m, int n, int k, float alpha, float beta,
        int padA, int padB, int padC, int offset, int gapA = 0, int gapB = 0, bool shareA = false)
    {
        var backend = Backend;
        int aRows = transA ? k : m, aCols = transA ? m : k, bRows = transB ? n : k, bCols = transB ? k : n;
        int lda = Math.Max(aCols, 1) + padA, ldb = Math.Max(bCols, 1) + padB, ldc = n + padC;
        int sizeA = Math.Max(aRows, 1) * lda, sizeB = Math.Max(bRows, 1) * ldb, sizeC = m * ldc;
        int strideA = shareA ? 0 : sizeA + gapA, strideB = sizeB + gapB, strideC = sizeC + 1;
        var a = OpenCLTestDevice.Random(offset + (batch - 1) * strideA + sizeA, (ulong)(m * 7 + n + batch));
        var b = OpenCLTestDevice.Random(offset + (batch - 1) * strideB + sizeB, (ulong)(k * 13 + 1 + batch));
        var c = OpenCLTestDevice.Random(offset + (batch - 1) * strideC + sizeC, (ulong)(m + n + k));
        var expected = (float[])c.Clone();
        for (int i = 0; i < batch; i++)
            Naive(transA, transB, m, n, k, alpha, a, offset + i * strideA, lda, b, offset + i * strideB, ldb, beta, expected, offset + i * strideC, ldc);

        using var da = Put(backend, a);
        using var db = Put(backend, b);
        using var dc = Put(backend, c);
        var va = da.All.Slice(offset, a.Length - offset);
        var vb = db.All.Slice(offset, b.Length - offset);
        var vc = dc.All.Slice(offset, c.Length - offset);
        if (batch == 1) backend.Gemm(transA, transB, m, n, k, alpha, va, lda, vb, ldb, beta, vc, ldc);
        else backend.GemmBatched(batch, transA, transB, m, n, k, alpha, va, lda, strideA, vb, ldb, strideB, beta, vc, ldc, strideC);
        AssertClose(Get(backend, dc), expected,
            $"{_path}: {batch}× {(transA ? "T" : "N")}{(transB ? "T" : "N")} {m}x{n}x{k} alpha {alpha} beta {beta} offset {offset} ld {lda}/{ldb}/{ldc} strides {strideA}/{strideB}/{strideC}");
    }

    /// <summary>C = alpha·op(A)·op(B) + beta·C, row-major, summed in double; beta 0 never reads C.</summary>
    private static void Naive(bool transA, bool transB, int m, int n, int k, float alpha, float[] a, int aOffset, int lda,
        float[] b, int bOffset, int ldb, float beta, float[] c, int cOffset, int ldc)
    {
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                double sum = 0;
                for (int p = 0; p < k; p++)
                    sum += (double)a[aOffset + (transA ? p * lda + i : i * lda + p)] * b[bOffset + (transB ? j * ldb + p : p * ldb + j)];
                ref float cij = ref c[cOffset + i * ldc + j];
                cij = (float)(alpha * sum + (beta == 0 ? 0 : beta * (double)cij));
            }
    }

    private static IBackendBuffer Put(OpenCLBackend backend, float[] values)
    {
        var buffer = backend.Allocate(values.Length);
        backend.Upload(values, buffer.All);
        return buffer;
    }

    private static float[] Get(OpenCLBackend backend, IBackendBuffer buffer)
    {
        var values = new float[buffer.Count];
        backend.Download(buffer.All, values);
        return values;
    }

    /// <summary>|actual − expected| ≤ 1e-4 · max(1, |expected|) everywhere (NaN only where NaN is expected).</summary>
    private static void AssertClose(float[] actual, float[] expected, string what)
    {
        Assert.That(actual.Length, Is.EqualTo(expected.Length), $"{what}: count");
        for (int i = 0; i < actual.Length; i++)
        {
            if (float.IsNaN(expected[i]) && float.IsNaN(actual[i])) continue;
            if (!(Math.Abs(actual[i] - expected[i]) <= 1e-4 * Math.Max(1.0, Math.Abs(expected[i]))))
                Assert.Fail($"{what}: [{i}] is {actual[i]}, expected {expected[i]}");
        }
    }
}

/// <summary>Which GEMM the backend picks (<see cref="OpenCLBackend.ChooseGemm"/>): no device needed.</summary>
[TestFixture]
public class OpenCLGemmChoiceTests
{
    [Test]
    public void DefaultIsDirectOnCpuDevicesElseClBlastWhenItLoadsElseTiled()
    {
        var notes = new List<string>();
        Assert.That(OpenCLBackend.ChooseGemm(null, cpuDevice: true, clblastLoads: true, notes.Add), Is.EqualTo("direct"));
        Assert.That(OpenCLBackend.ChooseGemm(null, cpuDevice: false, clblastLoads: true, notes.Add), Is.EqualTo("clblast"));
        Assert.That(OpenCLBackend.ChooseGemm("", cpuDevice: false, clblastLoads: true, notes.Add), Is.EqualTo("clblast"));
        Assert.That(OpenCLBackend.ChooseGemm(null, cpuDevice: true, clblastLoads: false, notes.Add), Is.EqualTo("direct"));
        Assert.That(OpenCLBackend.ChooseGemm(null, cpuDevice: false, clblastLoads: false, notes.Add), Is.EqualTo("tiled"));
        Assert.That(notes, Is.Empty);
    }

    [Test]
    public void AskedKernelWins()
    {
        foreach (bool cpu in new[] { true, false })
            foreach (bool loads in new[] { true, false })
            {
                Assert.That(OpenCLBackend.ChooseGemm("tiled", cpu, loads, _ => Assert.Fail("no note")), Is.EqualTo("tiled"));
                Assert.That(OpenCLBackend.ChooseGemm("direct", cpu, loads, _ => Assert.Fail("no note")), Is.EqualTo("direct"));
            }
        Assert.That(OpenCLBackend.ChooseGemm("clblast", true, true, _ => Assert.Fail("no note")), Is.EqualTo("clblast"));
    }

    [Test]
    public void ClBlastAskedButMissingFallsBackWithANote()
    {
        var notes = new List<string>();
        Assert.That(OpenCLBackend.ChooseGemm("clblast", cpuDevice: true, clblastLoads: false, notes.Add), Is.EqualTo("direct"));
        Assert.That(OpenCLBackend.ChooseGemm("clblast", cpuDevice: false, clblastLoads: false, notes.Add), Is.EqualTo("tiled"));
        Assert.That(notes, Has.Count.EqualTo(2));
        Assert.That(notes[0], Does.StartWith("ENGINE_OPENCL_GEMM=clblast: ").And.EndWith("using the direct GEMM kernel"));
    }

    [Test]
    public void UnknownNameIsAnError()
    {
        var e = Assert.Throws<EngineException>(() => OpenCLBackend.ChooseGemm("cublas", true, true, _ => { }))!;
        Assert.That(e.Message, Is.EqualTo("ENGINE_OPENCL_GEMM=cublas: expected clblast, tiled or direct"));
    }
}
