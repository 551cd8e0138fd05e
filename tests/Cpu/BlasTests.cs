using Engine.Cpu;
using NUnit.Framework;

namespace Engine.Tests.Cpu;

/// <summary>Sgemm and Sgemv against hand-computed products and a naive double-precision reference.</summary>
[TestFixture]
[NonParallelizable] // tests switch the global kernel family and thread count
public class BlasTests
{
    private Blas.KernelKind savedKernel;
    private int savedThreads;
    private long savedLargeC;

    [SetUp]
    public void Save()
    {
        savedKernel = Blas.ForceKernel;
        savedThreads = WorkerPool.Threads;
        savedLargeC = Blas.LargeCThreshold;
    }

    [TearDown]
    public void Restore()
    {
        Blas.ForceKernel = savedKernel;
        WorkerPool.Threads = savedThreads;
        Blas.LargeCThreshold = savedLargeC;
    }

    private static readonly float[] A23 = [1, 2, 3, 4, 5, 6];                     // [1 2 3; 4 5 6]
    private static readonly float[] B34 = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]; // 1..12 as 3×4
    private static readonly float[] AB = [38, 44, 50, 56, 83, 98, 113, 128];

    private static float[] Transpose(float[] x, int rows, int cols)
    {
        var t = new float[x.Length];
        for (int i = 0; i < rows; i++)
            for (int j = 0; j < cols; j++)
                t[j * rows + i] = x[i * cols + j];
        return t;
    }

    [Test]
    public void HandComputedProduct()
    {
        var c = new float[8];
        Blas.Sgemm(false, false, 2, 4, 3, 1f, A23, B34, 0f, c);
        Assert.That(c, Is.EqualTo(AB));
    }

    [Test]
    public void HandComputedProductWithTransposedStorage([Values] bool transA, [Values] bool transB)
    {
        var a = transA ? Transpose(A23, 2, 3) : A23; // stored 3×2 when transposed
        var b = transB ? Transpose(B34, 3, 4) : B34; // stored 4×3 when transposed
        var c = new float[8];
        Array.Fill(c, float.NaN);
        Blas.Sgemm(transA, transB, 2, 4, 3, 1f, a, b, 0f, c);
        Assert.That(c, Is.EqualTo(AB));
    }

    [Test]
    public void AlphaAndBetaOnHandComputedProduct()
    {
        var c = new float[] { 1, 1, 1, 1, 2, 2, 2, 2 };
        Blas.Sgemm(false, false, 2, 4, 3, 2f, A23, B34, 0.5f, c);
        Assert.That(c, Is.EqualTo(new float[] { 76.5f, 88.5f, 100.5f, 112.5f, 167, 197, 227, 257 }));
    }

    [Test]
    public void ExplicitLeadingDimensions()
    {
        // A 2×3 inside a 2×5 array, B 3×4 inside 3×6, C 2×4 inside 2×7 (padding must stay untouched).
        var a = new float[] { 1, 2, 3, -9, -9, 4, 5, 6, -9, -9 };
        var b = new float[] { 1, 2, 3, 4, -9, -9, 5, 6, 7, 8, -9, -9, 9, 10, 11, 12, -9, -9 };
        var c = new float[14];
        Array.Fill(c, 7f);
        Blas.Sgemm(false, false, 2, 4, 3, 1f, a, 5, b, 6, 0f, c, 7);
        Assert.That(c, Is.EqualTo(new float[] { 38, 44, 50, 56, 7, 7, 7, 83, 98, 113, 128, 7, 7, 7 }));
    }

    [Test]
    public void ZeroKOrZeroAlphaScalesC()
    {
        var c = new float[] { 1, 2, 3, 4 };
        Blas.Sgemm(false, false, 2, 2, 0, 1f, [], [], 0.5f, c);
        Assert.That(c, Is.EqualTo(new float[] { 0.5f, 1, 1.5f, 2 }));
        var a = new float[] { float.NaN, 1, 1, 1 };
        Blas.Sgemm(false, false, 2, 2, 2, 0f, a, a, 2f, c);
        Assert.That(c, Is.EqualTo(new float[] { 1, 2, 3, 4 }));
        Blas.Sgemm(false, false, 2, 2, 2, 0f, a, a, 0f, c);
        Assert.That(c, Is.EqualTo(new float[4]));
    }

    [Test]
    public void RejectsShortBuffers()
    {
        Assert.Throws<ArgumentException>(() => Blas.Sgemm(false, false, 2, 4, 3, 1f, new float[5], B34, 0f, new float[8]));
        Assert.Throws<ArgumentException>(() => Blas.Sgemm(false, false, 2, 4, 3, 1f, A23, new float[11], 0f, new float[8]));
        Assert.Throws<ArgumentException>(() => Blas.Sgemm(false, false, 2, 4, 3, 1f, A23, B34, 0f, new float[7]));
        Assert.Throws<ArgumentOutOfRangeException>(() => Blas.Sgemm(false, false, 2, 4, 3, 1f, A23, 2, B34, 4, 0f, new float[8], 4));
    }

    // ---- against the naive reference ------------------------------------------------------

    private static float[] Random(int n, int seed)
    {
        var rng = new Random(seed);
        var x = new float[n];
        for (int i = 0; i < n; i++) x[i] = (float)(rng.NextDouble() * 2 - 1);
        return x;
    }

    /// <summary>The triple loop in double precision; also returns Σ|terms| per element for the tolerance.</summary>
    private static (double[] c, double[] mag) Naive(bool transA, bool transB, int m, int n, int k, float alpha,
        float[] a, float[] b, float beta, float[] c0)
    {
        var c = new double[m * n];
        var mag = new double[m * n];
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                double s = 0, g = 0;
                for (int p = 0; p < k; p++)
                {
                    double x = transA ? a[p * m + i] : a[i * k + p];
                    double y = transB ? b[j * k + p] : b[p * n + j];
                    s += x * y;
                    g += Math.Abs(x * y);
                }
                double old = beta == 0f ? 0 : beta * (double)c0[i * n + j];
                c[i * n + j] = alpha * s + old;
                mag[i * n + j] = Math.Abs(alpha) * g + Math.Abs(old);
            }
        return (c, mag);
    }

    private static void CheckAgainstNaive(bool transA, bool transB, int m, int n, int k, float alpha, float beta, int seed)
    {
        var a = Random(m * k, seed);
        var b = Random(k * n, seed + 1);
        var c0 = Random(m * n, seed + 2);
        var c = beta == 0f ? Enumerable.Repeat(float.NaN, m * n).ToArray() : (float[])c0.Clone();
        Blas.Sgemm(transA, transB, m, n, k, alpha, a, b, beta, c);
        var (expect, mag) = Naive(transA, transB, m, n, k, alpha, a, b, beta, c0);
        for (int i = 0; i < m * n; i++)
        {
            double tol = 1e-6 * (mag[i] + 1) * Math.Sqrt(k + 1) + 1e-6;
            if (!(Math.Abs(c[i] - expect[i]) <= tol))
                Assert.Fail($"{(transA ? 'T' : 'N')}{(transB ? 'T' : 'N')} m={m} n={n} k={k} alpha={alpha} beta={beta}: " +
                            $"C[{i / n},{i % n}] = {c[i]}, expected {expect[i]} (tolerance {tol:g3})");
        }
    }

    private static readonly int[] OddSizes = [1, 2, 3, 7, 15, 17, 31, 33, 65, 100, 129];

    private static IEnumerable<TestCaseData> SizeMixes()
    {
        var rng = new Random(42);
        var list = new List<(int, int, int)>();
        foreach (int s in OddSizes) list.Add((s, s, s));
        for (int i = 0; i < 24; i++)
            list.Add((OddSizes[rng.Next(OddSizes.Length)], OddSizes[rng.Next(OddSizes.Length)], OddSizes[rng.Next(OddSizes.Length)]));
        list.AddRange([(257, 33, 65), (17, 257, 100), (65, 129, 257), (257, 257, 31), (3, 2, 700), (129, 600, 17)]);
        foreach (var (m, n, k) in list)
            yield return new TestCaseData(m, n, k).SetArgDisplayNames($"{m}x{n}x{k}");
    }

    [TestCaseSource(nameof(SizeMixes))]
    public void MatchesNaiveOnOddSizes(int m, int n, int k)
    {
        int seed = m * 10007 + n * 101 + k;
        foreach (bool ta in new[] { false, true })
            foreach (bool tb in new[] { false, true })
            {
                CheckAgainstNaive(ta, tb, m, n, k, 1f, 0f, seed);
                CheckAgainstNaive(ta, tb, m, n, k, -0.75f, 1f, seed + 7);
                CheckAgainstNaive(ta, tb, m, n, k, 1.5f, 0.5f, seed + 13);
            }
    }

    private static IEnumerable<Blas.KernelKind> Kinds() =>
        [Blas.KernelKind.Vector512, Blas.KernelKind.Vector256, Blas.KernelKind.Portable];

    [Test]
    public void EachKernelFamilyMatchesNaive([Values("Vector512", "Vector256", "Portable")] string kindName)
    {
        var kind = Enum.Parse<Blas.KernelKind>(kindName);
        if (!Blas.IsSupported(kind)) Assert.Ignore($"{kind} is not supported on this CPU");
        Blas.ForceKernel = kind;
        Assert.That(Blas.ActiveKernel, Is.EqualTo(kind));
        var sizes = new (int m, int n, int k)[] { (1, 1, 1), (2, 3, 7), (15, 17, 31), (33, 65, 17), (100, 129, 65), (13, 47, 300), (257, 100, 129), (64, 10, 500) };
        int seed = 3;
        foreach (var (m, n, k) in sizes)
            foreach (bool ta in new[] { false, true })
                foreach (bool tb in new[] { false, true })
                {
                    CheckAgainstNaive(ta, tb, m, n, k, 1f, 0f, seed++);
                    CheckAgainstNaive(ta, tb, m, n, k, 0.5f, 1f, seed++);
                    CheckAgainstNaive(ta, tb, m, n, k, 2f, 0.5f, seed++);
                }
        var c = new float[8];
        Blas.Sgemm(false, false, 2, 4, 3, 1f, A23, B34, 0f, c);
        Assert.That(c, Is.EqualTo(AB));
    }

    /// <summary>Products that straddle each family's cache blocks: more rows than one A block (so
    /// later m-blocks reuse the B slivers packed during the first), more columns than one B block,
    /// k cut into several balanced blocks, and tile edges in every direction; in the main blocking
    /// and (with the threshold lowered to let small products in) the large-C one.</summary>
    [Test]
    public void EachKernelFamilyMatchesNaiveAcrossBlockEdges([Values("Vector512", "Vector256", "Portable")] string kindName,
        [Values] bool largeC)
    {
        var kind = Enum.Parse<Blas.KernelKind>(kindName);
        if (!Blas.IsSupported(kind)) Assert.Ignore($"{kind} is not supported on this CPU");
        Blas.ForceKernel = kind;
        if (largeC && Blas.Blocking(kind, true) == Blas.Blocking(kind, false))
            Assert.Ignore($"{kind} has no blocking of its own for a large C");
        Blas.LargeCThreshold = largeC ? 0 : long.MaxValue;
        var (mr, nr, kc, mc, nc) = Blas.Blocking(kind, largeC);
        var sizes = new (int m, int n, int k)[]
        {
            (mc + 1, 2 * nr + 3, kc + 1),          // two m-blocks, two k-blocks, row and column edges
            (2 * mc + mr - 1, nr - 1, 3),          // three m-blocks; one narrow edge column sliver
            (mr + 1, nc + nr + 5, 9),              // two n-blocks, the second with an edge
            (mc + mr + 2, nc + 1, 2 * kc + 7),     // everything at once
            (2 * mr + 1, nc + nr + 5, 2 * kc + 7), // few rows: A packed once (several k-blocks) for both B blocks
        };
        // Every row count from one to two tiles plus one: the last rows are cut into two middling
        // slivers (8 = 4 + 4 with 6-row tiles), in the kernels and in both ways of packing A.
        for (int m = mr + 1; m <= 2 * mr + 1; m++) sizes = [.. sizes, (m, nr + 1, 5), (mc + m, 3, 2)];
        int seed = 11;
        foreach (var (m, n, k) in sizes)
            foreach (bool ta in new[] { false, true })
                foreach (bool tb in new[] { false, true })
                {
                    CheckAgainstNaive(ta, tb, m, n, k, 1f, 0f, seed++);
                    CheckAgainstNaive(ta, tb, m, n, k, -1.25f, 0.5f, seed++);
                }
    }

    [Test]
    public void ForcingAnUnsupportedKernelThrows()
    {
        foreach (var kind in Kinds())
        {
            if (Blas.IsSupported(kind)) continue;
            Blas.ForceKernel = kind;
            Assert.Throws<NotSupportedException>(() => Blas.Sgemm(false, false, 2, 4, 3, 1f, A23, B34, 0f, new float[8]));
        }
    }

    private static IEnumerable<TestCaseData> ThreadShapes()
    {
        yield return new TestCaseData(64, 500, 800, false, true);
        yield return new TestCaseData(500, 800, 64, true, false);
        yield return new TestCaseData(500, 64, 50, true, false);
        yield return new TestCaseData(20, 576, 25, false, false);
        yield return new TestCaseData(257, 301, 333, false, false);
        yield return new TestCaseData(301, 97, 1000, true, true);
        yield return new TestCaseData(150, 2100, 300, false, false); // several m-, n- and k-blocks
        yield return new TestCaseData(64, 3136, 40, false, true);
        yield return new TestCaseData(50, 64, 500, true, false);
        // A C large enough for the large-C blocking (k-blocks of their own length), whose parts
        // on 2 or 3 threads would not be: the blocking follows the whole product.
        yield return new TestCaseData(600, 900, 700, false, false);
    }

    [TestCaseSource(nameof(ThreadShapes))]
    public void ResultsDoNotDependOnThreadCount(int m, int n, int k, bool transA, bool transB)
    {
        var a = Random(m * k, 1);
        var b = Random(k * n, 2);
        var c0 = Random(m * n, 3);
        foreach (var kind in Kinds())
        {
            if (!Blas.IsSupported(kind)) continue;
            Blas.ForceKernel = kind;
            float[]? first = null;
            foreach (int threads in new[] { 1, 2, 3 })
            {
                WorkerPool.Threads = threads;
                var c = (float[])c0.Clone();
                Blas.Sgemm(transA, transB, m, n, k, 0.7f, a, b, 0.3f, c);
                if (first == null) first = c;
                else Assert.That(c, Is.EqualTo(first), $"{kind}: threads={threads} differs from threads=1");
            }
        }
    }

    // ---- Sgemv ---------------------------------------------------------------------------------

    [Test]
    public void SgemvHandComputed()
    {
        var y = new float[2];
        Blas.Sgemv(false, 2, 3, 1f, A23, [1, 2, 3], 0f, y);
        Assert.That(y, Is.EqualTo(new float[] { 14, 32 }));       // [1+4+9, 4+10+18]

        var yt = new float[3];
        Blas.Sgemv(true, 2, 3, 1f, A23, [1, 1], 0f, yt);
        Assert.That(yt, Is.EqualTo(new float[] { 5, 7, 9 }));     // column sums

        var y2 = new float[] { 1, 1, 1 };
        Blas.Sgemv(true, 2, 3, 2f, A23, [1, -1], 0.5f, y2);       // 2·[−3 −3 −3] + 0.5
        Assert.That(y2, Is.EqualTo(new float[] { -5.5f, -5.5f, -5.5f }));

        var y3 = new float[] { float.NaN, float.NaN };
        Blas.Sgemv(false, 2, 3, 1f, A23, [1, 0, 0], 0f, y3);      // beta 0 overwrites NaN
        Assert.That(y3, Is.EqualTo(new float[] { 1, 4 }));
    }

    [Test]
    public void SgemvMatchesNaive([Values(1, 3, 17, 100, 513, 1000)] int m, [Values(1, 5, 33, 700)] int n, [Values] bool trans)
    {
        var a = Random(m * n, m + n);
        var x = Random(trans ? m : n, 5);
        int yLen = trans ? n : m;
        var y0 = Random(yLen, 6);
        foreach (var (alpha, beta) in new[] { (1f, 0f), (0.5f, 1f), (-2f, 0.5f) })
        {
            var y = beta == 0f ? Enumerable.Repeat(float.NaN, yLen).ToArray() : (float[])y0.Clone();
            foreach (int threads in new[] { 1, 2 })
            {
                WorkerPool.Threads = threads;
                var yy = (float[])y.Clone();
                Blas.Sgemv(trans, m, n, alpha, a, x, beta, yy);
                for (int i = 0; i < yLen; i++)
                {
                    double s = 0, g = 0;
                    int len = trans ? m : n;
                    for (int p = 0; p < len; p++)
                    {
                        double t = trans ? a[p * n + i] * (double)x[p] : a[i * n + p] * (double)x[p];
                        s += t;
                        g += Math.Abs(t);
                    }
                    double expect = alpha * s + (beta == 0f ? 0 : beta * (double)y0[i]);
                    double tol = 1e-6 * (Math.Abs(alpha) * g + 1) * Math.Sqrt(len + 1);
                    Assert.That(yy[i], Is.EqualTo(expect).Within(tol), $"y[{i}] threads={threads} alpha={alpha} beta={beta}");
                }
            }
        }
    }
}
