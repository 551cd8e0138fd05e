using Engine.Backends;
using Engine.Cpu;
using NUnit.Framework;

namespace Engine.Tests.Cpu;

/// <summary>
/// <see cref="Blas.SgemmIm2Col"/> and <see cref="Blas.SgemmIm2ColT"/> (the GEMM packs its B operand
/// straight from the image) against the explicit column matrix: a naive im2col times a naive
/// double-precision product, and, bit for bit, <see cref="Im2Col.Forward"/> then <see cref="Blas.Sgemm(bool, bool, int, int, int, float, ReadOnlySpan{float}, int, ReadOnlySpan{float}, int, float, Span{float}, int)"/>.
/// </summary>
[TestFixture]
[NonParallelizable] // switches the global kernel family and thread count
public class ImplicitIm2ColGemmTests
{
    private Blas.KernelKind savedKernel;
    private int savedThreads;
    private long savedLargeC;

    [SetUp]
    public void Save() => (savedKernel, savedThreads, savedLargeC) = (Blas.ForceKernel, WorkerPool.Threads, Blas.LargeCThreshold);

    [TearDown]
    public void Restore() => (Blas.ForceKernel, WorkerPool.Threads, Blas.LargeCThreshold) = (savedKernel, savedThreads, savedLargeC);

    private static float[] Random(int n, int seed)
    {
        var rng = new Random(seed);
        var x = new float[n];
        for (int i = 0; i < n; i++) x[i] = (float)(rng.NextDouble() * 2 - 1);
        return x;
    }

    /// <summary>Column matrix from the definition, one loop per index.</summary>
    private static float[] NaiveColumns(float[] img, ConvWindow w)
    {
        int oh = w.OutH, ow = w.OutW;
        var cols = new float[w.Channels * w.KernelH * w.KernelW * oh * ow];
        for (int ch = 0; ch < w.Channels; ch++)
            for (int i = 0; i < w.KernelH; i++)
                for (int j = 0; j < w.KernelW; j++)
                    for (int y = 0; y < oh; y++)
                        for (int x = 0; x < ow; x++)
                        {
                            int iy = y * w.StrideH - w.PadH + i * w.DilationH, ix = x * w.StrideW - w.PadW + j * w.DilationW;
                            int row = (ch * w.KernelH + i) * w.KernelW + j;
                            bool inside = iy >= 0 && iy < w.Height && ix >= 0 && ix < w.Width;
                            cols[row * oh * ow + y * ow + x] = inside ? img[(ch * w.Height + iy) * w.Width + ix] : 0f;
                        }
        return cols;
    }

    private static IEnumerable<TestCaseData> Cases()
    {
        // window, rows of A (output channels)
        yield return new TestCaseData(new ConvWindow(3, 32, 32, 5, 5, 2, 2), 32).SetName("CIFAR conv1 (pad 2)");
        yield return new TestCaseData(new ConvWindow(32, 16, 16, 5, 5, 2, 2), 32).SetName("CIFAR conv2 (rows of 16)");
        yield return new TestCaseData(new ConvWindow(20, 12, 12, 5, 5), 50).SetName("LeNet conv2 (rows of 8)");
        yield return new TestCaseData(new ConvWindow(16, 14, 14, 3, 3, 1, 1), 70).SetName("3x3 pad 1, odd rows of A");
        yield return new TestCaseData(new ConvWindow(8, 15, 13, 1, 1, 0, 0, 2, 2), 24).SetName("1x1 stride 2 (ResNet)");
        yield return new TestCaseData(new ConvWindow(3, 23, 21, 7, 7, 3, 3, 2, 2), 13).SetName("7x7 stride 2 pad 3");
        yield return new TestCaseData(new ConvWindow(2, 10, 11, 3, 3, 2, 3, 2, 1, 3, 2), 7).SetName("dilation, rect stride, pad");
        yield return new TestCaseData(new ConvWindow(1, 3, 4, 3, 3, 4, 5, 3, 4, 2, 1), 5).SetName("pad larger than kernel");
        yield return new TestCaseData(new ConvWindow(3, 57, 61, 3, 3, 1, 1), 9).SetName("long rows (n > one B block)");
        yield return new TestCaseData(new ConvWindow(70, 9, 9, 3, 3, 1, 1), 33).SetName("k > one k-block (630 rows)");
        yield return new TestCaseData(new ConvWindow(4, 33, 8, 3, 3, 1, 1), 10).SetName("264 positions: k-blocks of 132, not whole groups of 8");
    }

    private static IEnumerable<TestCaseData> Families()
    {
        foreach (var kind in new[] { Blas.KernelKind.Vector512, Blas.KernelKind.Vector256, Blas.KernelKind.Portable })
            foreach (int threads in new[] { 1, 2 })
                yield return new TestCaseData(kind.ToString(), threads).SetName($"{kind}, {threads} thread(s)");
    }

    [TestCaseSource(nameof(Cases))]
    public void ForwardMatchesNaive(ConvWindow w, int m)
    {
        int k = w.Channels * w.KernelH * w.KernelW, n = w.OutH * w.OutW;
        var a = Random(m * k, 1);
        var img = Random(w.ImageCount, 2);
        var c0 = Random(m * n, 3);
        var cols = NaiveColumns(img, w);
        var c = (float[])c0.Clone();
        Blas.SgemmIm2Col(m, 0.5f, a, k, img, w, 2f, c, n);
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                double s = 0;
                for (int p = 0; p < k; p++) s += (double)a[i * k + p] * cols[p * n + j];
                double expect = 0.5 * s + 2.0 * c0[i * n + j];
                Assert.That(c[i * n + j], Is.EqualTo(expect).Within(1e-4 * (1 + Math.Abs(expect))), $"C[{i},{j}]");
            }
    }

    [TestCaseSource(nameof(Cases))]
    public void TransposedMatchesNaive(ConvWindow w, int m)
    {
        int k = w.OutH * w.OutW, n = w.Channels * w.KernelH * w.KernelW;
        var a = Random(m * k, 4);
        var img = Random(w.ImageCount, 5);
        var c0 = Random(m * n, 6);
        var cols = NaiveColumns(img, w);
        var c = (float[])c0.Clone();
        Blas.SgemmIm2ColT(m, 1f, a, k, img, w, 1f, c, n);
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                double s = 0;
                for (int p = 0; p < k; p++) s += (double)a[i * k + p] * cols[j * k + p];
                double expect = s + c0[i * n + j];
                Assert.That(c[i * n + j], Is.EqualTo(expect).Within(1e-4 * (1 + Math.Abs(expect))), $"C[{i},{j}]");
            }
    }

    /// <summary>The packed slivers hold the same numbers in the same places as the explicit path's,
    /// so the products agree bit for bit, in every kernel family and on any thread count.</summary>
    [TestCaseSource(nameof(Families))]
    public void SameBitsAsExplicitColumns(string kindName, int threads)
    {
        var kind = Enum.Parse<Blas.KernelKind>(kindName);
        if (!Blas.IsSupported(kind)) Assert.Ignore($"{kind} is not supported on this CPU");
        Blas.ForceKernel = kind;
        WorkerPool.Threads = threads;
        foreach (var data in Cases())
        {
            var w = (ConvWindow)data.Arguments[0]!;
            int m = (int)data.Arguments[1]!;
            int k = w.Channels * w.KernelH * w.KernelW, n = w.OutH * w.OutW;
            var img = Random(w.ImageCount, 7);
            var cols = new float[k * n];
            Im2Col.Forward(img, w.Channels, w.Height, w.Width, w.KernelH, w.KernelW, w.PadH, w.PadW, w.StrideH, w.StrideW,
                w.DilationH, w.DilationW, cols);

            var a = Random(m * k, 8);
            var expect = Random(m * n, 9);
            var got = (float[])expect.Clone();
            Blas.Sgemm(false, false, m, n, k, 1f, a, k, cols, n, 0.5f, expect, n);
            Blas.SgemmIm2Col(m, 1f, a, k, img, w, 0.5f, got, n);
            Assert.That(got, Is.EqualTo(expect), $"{data.TestName}: forward");

            var g = Random(m * n, 10);
            var expectT = Random(m * k, 11);
            var gotT = (float[])expectT.Clone();
            Blas.Sgemm(false, true, m, k, n, 1f, g, n, cols, n, 1f, expectT, k);
            Blas.SgemmIm2ColT(m, 1f, g, n, img, w, 1f, gotT, k);
            Assert.That(gotT, Is.EqualTo(expectT), $"{data.TestName}: transposed");
        }
    }

    /// <summary>Image columns keep the main blocking even where a matrix B of the same size would
    /// take the large-C one (the threshold lowered to 0 here): still the same bits as the explicit
    /// columns multiplied in the main blocking. k = 288 spans two k-blocks of that blocking and
    /// one of the large-C one, so the two sum in different orders.</summary>
    [Test]
    public void ImageColumnsKeepTheMainBlocking()
    {
        var w = new ConvWindow(32, 12, 12, 3, 3, 1, 1, 1, 1);
        int m = 100, k = 32 * 9, n = w.OutH * w.OutW;
        var img = Random(w.ImageCount, 12);
        var cols = new float[k * n];
        Im2Col.Forward(img, w.Channels, w.Height, w.Width, w.KernelH, w.KernelW, w.PadH, w.PadW, w.StrideH, w.StrideW,
            w.DilationH, w.DilationW, cols);
        var a = Random(m * k, 13);
        var expect = new float[m * n];
        var got = new float[m * n];
        Blas.LargeCThreshold = long.MaxValue;
        Blas.Sgemm(false, false, m, n, k, 1f, a, k, cols, n, 0f, expect, n);
        Blas.LargeCThreshold = 0;
        Blas.SgemmIm2Col(m, 1f, a, k, img, w, 0f, got, n);
        Assert.That(got, Is.EqualTo(expect));
    }

    /// <summary>Several images side by side (with a gap between them), output rows that are not a
    /// multiple of 8 wide (groups of eight columns cross into the next row, and into the next image):
    /// the same bits as the explicit column matrices laid side by side, forward and transposed.</summary>
    [Test]
    public void SeveralImagesSameBitsAsExplicitColumns([Values(1, 2)] int threads)
    {
        WorkerPool.Threads = threads;
        var windows = new[]
        {
            new ConvWindow(5, 7, 7, 3, 3, 1, 1),      // ResNet-50's last stage: rows of 7
            new ConvWindow(3, 14, 14, 3, 3, 1, 1),    // rows of 14
            new ConvWindow(2, 28, 28, 3, 3, 1, 1),    // rows of 28
            new ConvWindow(2, 25, 26, 3, 3, 1, 1),    // rows of 26, 650 positions: groups cross into the next image
            new ConvWindow(4, 9, 11, 3, 3),           // unpadded, rows of 9
        };
        const int images = 3, m = 13;
        foreach (var w in windows)
        {
            int k = w.Channels * w.KernelH * w.KernelW, n = w.OutH * w.OutW, stride = w.ImageCount + 5;
            var img = Random(images * stride, 21);
            var cols = new float[k * images * n];
            var one = new float[k * n];
            for (int i = 0; i < images; i++)
            {
                Im2Col.Forward(img.AsSpan(i * stride, w.ImageCount), w.Channels, w.Height, w.Width, w.KernelH, w.KernelW, w.PadH, w.PadW,
                    w.StrideH, w.StrideW, w.DilationH, w.DilationW, one);
                for (int r = 0; r < k; r++) one.AsSpan(r * n, n).CopyTo(cols.AsSpan(r * images * n + i * n, n));
            }
            var a = Random(m * k, 22);
            var expect = new float[m * images * n];
            var got = new float[m * images * n];
            Blas.Sgemm(false, false, m, images * n, k, 1f, a, k, cols, images * n, 0f, expect, images * n);
            Blas.SgemmIm2Col(m, 1f, a, k, img, w, 0f, got, images * n, images, stride);
            Assert.That(got, Is.EqualTo(expect), $"{w}: forward");

            var g = Random(m * images * n, 23);
            var expectT = new float[m * k];
            var gotT = new float[m * k];
            Blas.Sgemm(false, true, m, k, images * n, 1f, g, images * n, cols, images * n, 0f, expectT, k);
            Blas.SgemmIm2ColT(m, 1f, g, images * n, img, w, 0f, gotT, k, images, stride);
            Assert.That(gotT, Is.EqualTo(expectT), $"{w}: transposed");
        }
    }

    [Test]
    public void ShortBuffersAreRejected()
    {
        var w = new ConvWindow(2, 5, 5, 3, 3, 1, 1);
        Assert.Throws<ArgumentException>(() => Blas.SgemmIm2Col(4, 1f, new float[4 * 18], 18, new float[49], w, 0f, new float[4 * 25], 25));
        Assert.Throws<ArgumentException>(() => Blas.SgemmIm2Col(4, 1f, new float[4 * 18], 18, new float[50], w, 0f, new float[4 * 25 - 1], 25));
        Assert.Throws<ArgumentException>(() => Blas.SgemmIm2ColT(4, 1f, new float[4 * 25 - 1], 25, new float[50], w, 0f, new float[4 * 18], 18));
    }
}
