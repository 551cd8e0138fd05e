using Engine.Core;
using Engine.Proto;
using Engine.Tests.Support;
using NUnit.Framework;
using static Engine.Tests.Support.VisionTestHelpers;

namespace Engine.Tests.Layers.Vision;

/// <summary>The Im2col layer over 1, 2 and 3 spatial axes, against a naive loop written here.</summary>
[TestFixture]
public class Im2colLayerTests
{
    private static LayerParameter Im2col(ConvolutionParameter p) => new() { Name = "im2col", Type = "Im2col", ConvolutionParam = p };

    private static ConvolutionParameter Window(int[] k, int[] s, int[] p, int[] d, int axis = 1, bool forceNd = false)
    {
        var c = new ConvolutionParameter { Axis = axis, ForceNdIm2Col = forceNd };
        c.KernelSize.AddRange(k.Select(v => (uint)v));
        c.Stride.AddRange(s.Select(v => (uint)v));
        c.Pad.AddRange(p.Select(v => (uint)v));
        c.Dilation.AddRange(d.Select(v => (uint)v));
        return c;
    }

    /// <summary>
    /// Column (c, j1…jn) at output (o1…on) holds the input at i = o·s − p + j·d on every axis, or
    /// 0 outside the image; images are the product of the axes before <paramref name="axis"/>.
    /// </summary>
    private static (int[] shape, float[] values) Naive(Blob x, int axis, int[] k, int[] s, int[] p, int[] d)
    {
        int n = x.NumAxes - axis - 1;
        int images = Product(x.Shape.Take(axis)), channels = x.Dim(axis);
        var inSp = x.Shape.Skip(axis + 1).ToArray();
        var outSp = Enumerable.Range(0, n).Select(a => (inSp[a] + 2 * p[a] - (d[a] * (k[a] - 1) + 1)) / s[a] + 1).ToArray();
        int kCount = Product(k), oCount = Product(outSp), iCount = Product(inSp);
        var result = new float[images * channels * kCount * oCount];
        var xd = x.Data;
        for (int img = 0; img < images; img++)
            for (int c = 0; c < channels; c++)
                for (int kf = 0; kf < kCount; kf++)
                {
                    var j = Unravel(kf, k);
                    for (int of = 0; of < oCount; of++)
                    {
                        var o = Unravel(of, outSp);
                        int flat = 0;
                        bool inside = true;
                        for (int a = 0; a < n; a++)
                        {
                            int i = o[a] * s[a] - p[a] + j[a] * d[a];
                            if (i < 0 || i >= inSp[a]) inside = false;
                            flat = flat * inSp[a] + i;
                        }
                        result[((img * channels + c) * kCount + kf) * oCount + of] = inside ? xd[(img * channels + c) * iCount + flat] : 0;
                    }
                }
        return ([.. x.Shape.Take(axis), channels * kCount, .. outSp], result);
    }

    private static void Check(int[] shape, int[] k, int[] s, int[] p, int[] d, int axis = 1, bool forceNd = false)
    {
        var x = TestData.Random("x", shape, seed: 31);
        var (layer, tops) = SetUp(Im2col(Window(k, s, p, d, axis, forceNd)), [x]);
        layer.Forward([x], tops);
        var (eShape, expected) = Naive(x, axis, k, s, p, d);
        Assert.That(tops[0].Shape, Is.EqualTo(eShape));
        Assert.That(tops[0].Data.ToArray(), Is.EqualTo(expected));
    }

    [Test]
    public void ThreeSpatialAxesMatchTheNaiveLoop() => Check([2, 2, 4, 5, 3], [2, 3, 2], [2, 1, 1], [1, 0, 1], [1, 1, 2]);

    [Test]
    public void OneSpatialAxisMatchesTheNaiveLoop() => Check([2, 3, 9], [3], [2], [1], [2]);

    [Test]
    public void ForcedNdOnTwoAxesMatchesTheNaiveLoop() => Check([1, 2, 5, 6], [3, 2], [1, 2], [1, 0], [1, 2], forceNd: true);

    [Test]
    public void TwoAxesWithoutForcingMatchTheNaiveLoop() => Check([1, 2, 5, 6], [3, 2], [1, 2], [1, 0], [1, 2]);

    [Test]
    public void AxesBeforeTheChannelAxisCountImages() => Check([2, 3, 2, 5, 4], [2, 3], [1, 1], [0, 1], [1, 1], axis: 2);

    [Test]
    public void HandComputedOneDimensionalColumns()
    {
        // x = 1 2 3 4, kernel 2, stride 2, pad 1: windows [0 1], [2 3], [4 0] → rows (j = 0) 0 2 4, (j = 1) 1 3 0
        var x = TestData.FromValues("x", [1, 1, 4], 1, 2, 3, 4);
        var (layer, tops) = SetUp(Im2col(Window([2], [2], [1], [1])), [x]);
        layer.Forward([x], tops);
        Assert.That(tops[0].Shape, Is.EqualTo(new[] { 1, 2, 3 }));
        Assert.That(tops[0].Data.ToArray(), Is.EqualTo(new float[] { 0, 2, 4, 1, 3, 0 }));
    }

    [Test]
    public void GradientThreeAxes() =>
        CheckGradient(Im2col(Window([2, 2, 3], [1, 2, 1], [1, 0, 1], [1, 1, 1])), TestData.Random("x", [1, 2, 3, 4, 3], seed: 5));

    [Test]
    public void GradientOneAxisDilated() =>
        CheckGradient(Im2col(Window([2], [1], [1], [2])), TestData.Random("x", [2, 2, 6], seed: 6));

    [Test]
    public void KernelThatDoesNotFitIsNamed()
    {
        var x = TestData.Random("x", [1, 1, 2, 2, 2]);
        var e = Assert.Throws<EngineException>(() => SetUp(Im2col(Window([3], [1], [0], [1])), [x]))!;
        Assert.That(e.Message, Does.Contain("layer \"im2col\" (Im2col)").And.Contain("does not fit"));
    }
}
