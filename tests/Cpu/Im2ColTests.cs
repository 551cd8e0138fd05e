using Engine.Cpu;
using NUnit.Framework;

namespace Engine.Tests.Cpu;

/// <summary>im2col/col2im against Caffe's documented facts, a naive reference, and the adjoint identity.</summary>
[TestFixture]
public class Im2ColTests
{
    private static float[] Random(int n, int seed)
    {
        var rng = new Random(seed);
        var x = new float[n];
        for (int i = 0; i < n; i++) x[i] = (float)(rng.NextDouble() * 2 - 1);
        return x;
    }

    /// <summary>Straight from the definition: one loop per index.</summary>
    private static float[] NaiveIm2Col(float[] img, int c, int h, int w, int kh, int kw, int ph, int pw, int sh, int sw, int dh, int dw)
    {
        int oh = (h + 2 * ph - (dh * (kh - 1) + 1)) / sh + 1;
        int ow = (w + 2 * pw - (dw * (kw - 1) + 1)) / sw + 1;
        var cols = new float[c * kh * kw * oh * ow];
        for (int ch = 0; ch < c; ch++)
            for (int i = 0; i < kh; i++)
                for (int j = 0; j < kw; j++)
                    for (int y = 0; y < oh; y++)
                        for (int x = 0; x < ow; x++)
                        {
                            int iy = y * sh - ph + i * dh, ix = x * sw - pw + j * dw;
                            int row = (ch * kh + i) * kw + j;
                            cols[row * oh * ow + y * ow + x] = iy >= 0 && iy < h && ix >= 0 && ix < w ? img[(ch * h + iy) * w + ix] : 0f;
                        }
        return cols;
    }

    [Test]
    public void OutputSizeFollowsCaffe()
    {
        Assert.That(Im2Col.OutputSize(10, 3, 0, 2, 3), Is.EqualTo(2));  // (10 − 7)/2 + 1
        Assert.That(Im2Col.OutputSize(11, 3, 0, 2, 3), Is.EqualTo(3));  // (11 − 7)/2 + 1
        Assert.That(Im2Col.OutputSize(28, 5, 0, 1, 1), Is.EqualTo(24));
        Assert.That(Im2Col.OutputSize(7, 3, 1, 2, 1), Is.EqualTo(4));
    }

    /// <summary>Caffe's Im2colLayerTest.TestSetup with dilation: a 2×3×10×11 bottom, kernel 3,
    /// stride 2, dilation 3 gives 27 rows × (2·3) columns per image.</summary>
    [Test]
    public void CaffeDilatedShape()
    {
        const int num = 2, c = 3, h = 10, w = 11;
        var bottom = Random(num * c * h * w, 1);
        var cols = new float[27 * 6];
        for (int n = 0; n < num; n++)
        {
            var img = bottom.AsSpan(n * c * h * w, c * h * w).ToArray();
            Im2Col.Forward(img, c, h, w, 3, 3, 0, 0, 2, 2, 3, 3, cols);
            Assert.That(cols, Is.EqualTo(NaiveIm2Col(img, c, h, w, 3, 3, 0, 0, 2, 2, 3, 3)));
        }
        Assert.That(Im2Col.OutputShapeNd([c, h, w], [3, 3], [0, 0], [2, 2], [3, 3]), Is.EqualTo(new[] { 2, 3 }));
        Assert.Throws<ArgumentException>(() => Im2Col.Forward(bottom, c, h, w, 3, 3, 0, 0, 2, 2, 3, 3, new float[27 * 6 - 1]));
    }

    /// <summary>Caffe's TestRect: with a 5×3 kernel, column row c at output (0, 0) is the image
    /// value at (c/15, (c/3)%5, c%3).</summary>
    [Test]
    public void CaffeRectangularKernel([Values(1, 2)] int stride)
    {
        const int c = 3, h = 6, w = 5;
        var img = Random(c * h * w, 2);
        int oh = Im2Col.OutputSize(h, 5, 0, stride, 1), ow = Im2Col.OutputSize(w, 3, 0, stride, 1);
        var cols = new float[c * 15 * oh * ow];
        Im2Col.Forward(img, c, h, w, 5, 3, 0, 0, stride, stride, 1, 1, cols);
        for (int row = 0; row < c * 15; row++)
            Assert.That(cols[row * oh * ow], Is.EqualTo(img[((row / 15) * h + (row / 3) % 5) * w + row % 3]), $"row {row}");
    }

    private static IEnumerable<TestCaseData> Geometries()
    {
        // c, h, w, kh, kw, ph, pw, sh, sw, dh, dw
        yield return new TestCaseData(1, 28, 28, 5, 5, 0, 0, 1, 1, 1, 1).SetName("LeNet conv1");
        yield return new TestCaseData(20, 12, 12, 5, 5, 0, 0, 1, 1, 1, 1).SetName("LeNet conv2");
        yield return new TestCaseData(3, 7, 9, 3, 3, 1, 1, 1, 1, 1, 1).SetName("pad 1");
        yield return new TestCaseData(2, 9, 7, 3, 5, 2, 1, 2, 3, 1, 1).SetName("rect, pad, stride");
        yield return new TestCaseData(2, 10, 11, 3, 3, 2, 3, 2, 1, 3, 2).SetName("dilation with pad");
        yield return new TestCaseData(4, 5, 5, 1, 1, 0, 0, 2, 2, 1, 1).SetName("1x1 stride 2");
        yield return new TestCaseData(1, 3, 4, 3, 3, 4, 5, 3, 4, 2, 1).SetName("pad larger than kernel");
        yield return new TestCaseData(2, 2, 2, 3, 3, 0, 0, 2, 2, 1, 1).SetName("kernel larger than image (Caffe's truncation)");
        // Rows of 9 to 39 floats: vector copies with a partial last vector, clipped by padding.
        yield return new TestCaseData(2, 6, 13, 3, 3, 2, 2, 1, 1, 1, 1).SetName("rows of 15, pad 2");
        yield return new TestCaseData(1, 4, 37, 2, 5, 1, 3, 1, 1, 1, 1).SetName("rows of 39, pad 3");
    }

    [TestCaseSource(nameof(Geometries))]
    public void ForwardMatchesNaive(int c, int h, int w, int kh, int kw, int ph, int pw, int sh, int sw, int dh, int dw)
    {
        var img = Random(c * h * w, 3);
        var expect = NaiveIm2Col(img, c, h, w, kh, kw, ph, pw, sh, sw, dh, dw);
        var cols = Enumerable.Repeat(float.NaN, expect.Length).ToArray();
        Im2Col.Forward(img, c, h, w, kh, kw, ph, pw, sh, sw, dh, dw, cols);
        Assert.That(cols, Is.EqualTo(expect));

        var nd = Enumerable.Repeat(float.NaN, expect.Length).ToArray();
        Im2Col.ForwardNd(img, [c, h, w], [kh, kw], [ph, pw], [sh, sw], [dh, dw], nd);
        Assert.That(nd, Is.EqualTo(expect));
    }

    /// <summary>col2im is im2col's adjoint: ⟨im2col(x), y⟩ = ⟨x, col2im(y)⟩.</summary>
    [TestCaseSource(nameof(Geometries))]
    public void BackwardIsTheAdjoint(int c, int h, int w, int kh, int kw, int ph, int pw, int sh, int sw, int dh, int dw)
    {
        int oh = Im2Col.OutputSize(h, kh, ph, sh, dh), ow = Im2Col.OutputSize(w, kw, pw, sw, dw);
        var x = Random(c * h * w, 4);
        var y = Random(c * kh * kw * oh * ow, 5);
        var cols = new float[y.Length];
        Im2Col.Forward(x, c, h, w, kh, kw, ph, pw, sh, sw, dh, dw, cols);
        var img = Enumerable.Repeat(float.NaN, x.Length).ToArray(); // Backward must zero it first
        Im2Col.Backward(y, c, h, w, kh, kw, ph, pw, sh, sw, dh, dw, img);
        double lhs = 0, rhs = 0;
        for (int i = 0; i < y.Length; i++) lhs += (double)cols[i] * y[i];
        for (int i = 0; i < x.Length; i++) rhs += (double)x[i] * img[i];
        Assert.That(lhs, Is.EqualTo(rhs).Within(1e-4 * (1 + Math.Abs(lhs))));

        var imgNd = Enumerable.Repeat(float.NaN, x.Length).ToArray();
        Im2Col.BackwardNd(y, [c, h, w], [kh, kw], [ph, pw], [sh, sw], [dh, dw], imgNd);
        Assert.That(imgNd, Is.EqualTo(img), "N-D col2im accumulates in the same order as the 2-D one");
    }

    [Test]
    public void BackwardCountsOverlaps()
    {
        // 1×3×3 image, 2×2 kernel, stride 1: col2im of all-ones counts how many windows cover each pixel.
        var ones = Enumerable.Repeat(1f, 4 * 4).ToArray();
        var img = new float[9];
        Im2Col.Backward(ones, 1, 3, 3, 2, 2, 0, 0, 1, 1, 1, 1, img);
        Assert.That(img, Is.EqualTo(new float[] { 1, 2, 1, 2, 4, 2, 1, 2, 1 }));
    }

    [Test]
    public void ThreeDimensionalMatchesNaiveAndIsAdjoint()
    {
        int[] shape = [2, 5, 6, 7];
        int[] k = [2, 3, 3], p = [1, 0, 2], s = [2, 1, 3], d = [1, 2, 1];
        var o = Im2Col.OutputShapeNd(shape, k, p, s, d);
        Assert.That(o, Is.EqualTo(new[] { 3, 2, 3 }));
        int spatial = o[0] * o[1] * o[2], rows = shape[0] * k[0] * k[1] * k[2];
        var x = Random(shape[0] * shape[1] * shape[2] * shape[3], 6);
        var cols = new float[rows * spatial];
        Im2Col.ForwardNd(x, shape, k, p, s, d, cols);
        for (int c = 0; c < shape[0]; c++)
            for (int a = 0; a < k[0]; a++)
                for (int b = 0; b < k[1]; b++)
                    for (int e = 0; e < k[2]; e++)
                        for (int z = 0; z < o[0]; z++)
                            for (int yy = 0; yy < o[1]; yy++)
                                for (int xx = 0; xx < o[2]; xx++)
                                {
                                    int iz = z * s[0] - p[0] + a * d[0], iy = yy * s[1] - p[1] + b * d[1], ix = xx * s[2] - p[2] + e * d[2];
                                    bool inside = iz >= 0 && iz < shape[1] && iy >= 0 && iy < shape[2] && ix >= 0 && ix < shape[3];
                                    float expect = inside ? x[((c * shape[1] + iz) * shape[2] + iy) * shape[3] + ix] : 0f;
                                    int row = ((c * k[0] + a) * k[1] + b) * k[2] + e;
                                    Assert.That(cols[row * spatial + (z * o[1] + yy) * o[2] + xx], Is.EqualTo(expect));
                                }

        var y = Random(cols.Length, 7);
        var img = new float[x.Length];
        Im2Col.BackwardNd(y, shape, k, p, s, d, img);
        double lhs = 0, rhs = 0;
        for (int i = 0; i < y.Length; i++) lhs += (double)cols[i] * y[i];
        for (int i = 0; i < x.Length; i++) rhs += (double)x[i] * img[i];
        Assert.That(lhs, Is.EqualTo(rhs).Within(1e-4 * (1 + Math.Abs(lhs))));
    }

    [Test]
    public void OneDimensional()
    {
        float[] x = [1, 2, 3, 4, 5];
        var cols = new float[3 * 3]; // kernel 3, pad 1, stride 2 → outputs at −1..1, 1..3, 3..5
        Im2Col.ForwardNd(x, [1, 5], [3], [1], [2], [1], cols);
        Assert.That(cols, Is.EqualTo(new float[] { 0, 2, 4, 1, 3, 5, 2, 4, 0 }));
    }

    [Test]
    public void RejectsBadGeometry()
    {
        var img = new float[100];
        var cols = new float[10000];
        Assert.Throws<ArgumentException>(() => Im2Col.Forward(img, 1, 10, 10, 0, 3, 0, 0, 1, 1, 1, 1, cols));
        Assert.Throws<ArgumentException>(() => Im2Col.Forward(img, 1, 10, 10, 3, 3, 0, 0, 0, 1, 1, 1, cols));
        Assert.Throws<ArgumentException>(() => Im2Col.Forward(img, 1, 10, 10, 3, 3, -1, 0, 1, 1, 1, 1, cols));
        Assert.Throws<ArgumentException>(() => Im2Col.Forward(img, 1, 10, 10, 6, 6, 0, 0, 1, 1, 2, 2, cols)); // extent 11 > 10
        Assert.Throws<ArgumentException>(() => Im2Col.Forward(img, 2, 10, 10, 3, 3, 0, 0, 1, 1, 1, 1, cols)); // image too short
        Assert.Throws<ArgumentException>(() => Im2Col.ForwardNd(img, [1, 10, 10], [3], [0, 0], [1, 1], [1, 1], cols));
    }
}
