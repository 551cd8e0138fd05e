using Engine.Core;
using Engine.Proto;
using Engine.Tests.Support;
using NUnit.Framework;
using static Engine.Tests.Support.VisionTestHelpers;
using PoolMethod = Engine.Proto.PoolingParameter.Types.PoolMethod;

namespace Engine.Tests.Layers.Vision;

/// <summary>N-D pooling (kernel_nd/stride_nd/pad_nd), average_exclude_padding and Marvin's window/padding.</summary>
[TestFixture]
public class NdPoolingTests
{
    private static LayerParameter Pool(PoolingParameter p, string name = "pool") =>
        new() { Name = name, Type = "Pooling", PoolingParam = p };

    /// <summary>Caffe's pooled size (ceil), less one when the last window would start in the right padding.</summary>
    private static int Pooled(int input, int k, int s, int p)
    {
        int size = (int)Math.Ceiling((input + 2.0 * p - k) / s) + 1;
        if (p > 0 && (size - 1) * s >= input + p) size--;
        return size;
    }

    /// <summary>Pooling written out: every output cell visits every window offset.</summary>
    private static (float[] values, int[] args, int[] outSpatial) Naive(Blob x, bool max, bool exclude, int[] k, int[] s, int[] p)
    {
        int planes = x.Dim(0) * x.Dim(1), axes = x.NumAxes - 2;
        var inSp = Enumerable.Range(0, axes).Select(a => x.Dim(a + 2)).ToArray();
        var outSp = Enumerable.Range(0, axes).Select(a => Pooled(inSp[a], k[a], s[a], p[a])).ToArray();
        int inCount = Product(inSp), outCount = Product(outSp), kCount = Product(k);
        var values = new float[planes * outCount];
        var args = new int[planes * outCount];
        for (int pl = 0; pl < planes; pl++)
            for (int o = 0; o < outCount; o++)
            {
                var oi = Unravel(o, outSp);
                double sum = 0;
                float best = float.NegativeInfinity;
                int arg = -1, inside = 0, padded = 0;
                for (int kp = 0; kp < kCount; kp++)
                {
                    var ki = Unravel(kp, k);
                    bool ok = true, inPadded = true;
                    int flat = 0;
                    for (int a = 0; a < axes; a++)
                    {
                        int pos = oi[a] * s[a] - p[a] + ki[a];
                        if (pos < 0 || pos >= inSp[a]) ok = false;
                        if (pos >= inSp[a] + p[a]) inPadded = false;
                        flat = flat * inSp[a] + pos;
                    }
                    if (inPadded) padded++;
                    if (!ok) continue;
                    inside++;
                    float v = x.Data[pl * inCount + flat];
                    sum += v;
                    if (v > best)
                    {
                        best = v;
                        arg = flat;
                    }
                }
                values[pl * outCount + o] = max ? best : (float)(sum / (exclude ? inside : padded));
                args[pl * outCount + o] = arg;
            }
        return (values, args, outSp);
    }

    private static PoolingParameter Nd(PoolMethod method, uint[] k, uint[] s, uint[] p, bool exclude = false)
    {
        var param = new PoolingParameter { Pool = method, AverageExcludePadding = exclude };
        param.KernelNd.Add(k);
        param.StrideNd.Add(s);
        param.PadNd.Add(p);
        return param;
    }

    private static readonly object[] Cases =
    [
        new object[] { new[] { 2, 2, 5, 6, 4 }, new uint[] { 3 }, new uint[] { 2 }, new uint[] { 1 } },
        new object[] { new[] { 2, 2, 5, 6, 4 }, new uint[] { 3, 2, 2 }, new uint[] { 2, 1, 2 }, new uint[] { 1, 0, 1 } },
        new object[] { new[] { 2, 3, 9 }, new uint[] { 3 }, new uint[] { 2 }, new uint[] { 1 } },
        new object[] { new[] { 1, 2, 7, 5 }, new uint[] { 3, 2 }, new uint[] { 2, 2 }, new uint[] { 1, 1 } },
    ];

    private static int[] Expand(uint[] v, int axes) => v.Length == 1 ? Enumerable.Repeat((int)v[0], axes).ToArray() : v.Select(x => (int)x).ToArray();

    [TestCaseSource(nameof(Cases))]
    public void MaxMatchesNaive(int[] shape, uint[] k, uint[] s, uint[] p)
    {
        var bottom = Distinct("data", shape);
        var (layer, tops) = SetUp(Pool(Nd(PoolMethod.Max, k, s, p)), [bottom], tops: 2);
        int axes = shape.Length - 2;
        var (values, args, outSp) = Naive(bottom, true, false, Expand(k, axes), Expand(s, axes), Expand(p, axes));
        Assert.That(tops[0].Shape, Is.EqualTo(shape.Take(2).Concat(outSp).ToArray()));
        layer.Forward([bottom], tops);
        AssertClose(tops[0].Data, values, "max", 1e-6);
        AssertClose(tops[1].Data, args.Select(a => (float)a).ToArray(), "argmax", 0);
    }

    private static void LayerForward(Blob bottom, Blob[] tops, LayerParameter param)
    {
        var (layer, _) = SetUp(param, [bottom], tops: tops.Length);
        layer.Reshape([bottom], tops);
        layer.Forward([bottom], tops);
    }

    [TestCaseSource(nameof(Cases))]
    public void AveMatchesNaive(int[] shape, uint[] k, uint[] s, uint[] p)
    {
        int axes = shape.Length - 2;
        var bottom = TestData.Random("data", shape, seed: 21);
        foreach (bool exclude in new[] { false, true })
        {
            var tops = new[] { new Blob("top") };
            LayerForward(bottom, tops, Pool(Nd(PoolMethod.Ave, k, s, p, exclude)));
            var (values, _, outSp) = Naive(bottom, false, exclude, Expand(k, axes), Expand(s, axes), Expand(p, axes));
            Assert.That(tops[0].Shape, Is.EqualTo(shape.Take(2).Concat(outSp).ToArray()));
            AssertClose(tops[0].Data, values, exclude ? "average excluding padding" : "average", 1e-5);
        }
    }

    [Test]
    public void TwoDKernelNdEqualsTheCaffeFields()
    {
        var bottom = TestData.Random("data", [2, 3, 7, 6], seed: 22);
        foreach (var method in new[] { PoolMethod.Max, PoolMethod.Ave })
        {
            var t1 = new[] { new Blob("a") };
            var t2 = new[] { new Blob("b") };
            LayerForward(bottom, t1, Pool(new PoolingParameter { Pool = method, KernelH = 3, KernelW = 2, StrideH = 2, StrideW = 1, PadH = 1, PadW = 1 }));
            LayerForward(bottom, t2, Pool(Nd(method, [3, 2], [2, 1], [1, 1])));
            Assert.That(t2[0].Shape, Is.EqualTo(t1[0].Shape));
            Assert.That(t2[0].Data.ToArray(), Is.EqualTo(t1[0].Data.ToArray()));
        }
    }

    [Test]
    public void ScalarFieldsApplyToEveryAxis()
    {
        var bottom = TestData.Random("data", [1, 2, 5, 6, 4], seed: 23);
        var t1 = new[] { new Blob("a") };
        var t2 = new[] { new Blob("b") };
        LayerForward(bottom, t1, Pool(new PoolingParameter { Pool = PoolMethod.Ave, KernelSize = 3, Stride = 2, Pad = 1 }));
        LayerForward(bottom, t2, Pool(Nd(PoolMethod.Ave, [3], [2], [1])));
        Assert.That(t1[0].Data.ToArray(), Is.EqualTo(t2[0].Data.ToArray()));
    }

    [Test]
    public void GlobalPooling3D()
    {
        var bottom = TestData.Random("data", [2, 3, 3, 4, 2], seed: 24);
        var tops = new[] { new Blob("top") };
        LayerForward(bottom, tops, Pool(new PoolingParameter { Pool = PoolMethod.Ave, GlobalPooling = true }));
        Assert.That(tops[0].Shape, Is.EqualTo(new[] { 2, 3, 1, 1, 1 }));
        for (int pl = 0; pl < 6; pl++)
        {
            double mean = 0;
            for (int i = 0; i < 24; i++) mean += bottom.Data[pl * 24 + i];
            Assert.That(tops[0].Data[pl], Is.EqualTo(mean / 24).Within(1e-5));
        }
    }

    private static void GradientCheck(PoolingParameter p, int[] shape)
    {
        CheckGradient(Pool(p), Distinct("data", shape));
    }

    [Test]
    public void GradientMax3D() => GradientCheck(Nd(PoolMethod.Max, [3], [2], [1]), [2, 2, 5, 6, 4]);

    [Test]
    public void GradientMax3DPerAxis() => GradientCheck(Nd(PoolMethod.Max, [3, 2, 2], [2, 1, 2], [1, 0, 1]), [1, 2, 5, 6, 4]);

    [Test]
    public void GradientAve3D() => GradientCheck(Nd(PoolMethod.Ave, [3], [2], [1]), [2, 2, 5, 6, 4]);

    [Test]
    public void GradientAve3DExcludePadding() => GradientCheck(Nd(PoolMethod.Ave, [3], [2], [1], exclude: true), [2, 2, 5, 6, 4]);

    [Test]
    public void GradientAve2DExcludePadding() => GradientCheck(Nd(PoolMethod.Ave, [3], [1], [1], exclude: true), [1, 2, 4, 5]);

    [Test]
    public void GradientMax1D() => GradientCheck(Nd(PoolMethod.Max, [3], [2], [1]), [2, 3, 9]);

    [Test]
    public void AverageExcludePaddingOnConstantInput()
    {
        // k3 s1 pad 1 on a 3×3 of 2s: excluding padding every window averages 2s only.
        var bottom = new Blob("data", 1, 1, 3, 3);
        bottom.Data.Fill(2f);
        var exclude = new[] { new Blob("e") };
        LayerForward(bottom, exclude, Pool(new PoolingParameter { Pool = PoolMethod.Ave, KernelSize = 3, Stride = 1, Pad = 1, AverageExcludePadding = true }));
        Assert.That(exclude[0].Shape, Is.EqualTo(new[] { 1, 1, 3, 3 }));
        Assert.That(exclude[0].Data.ToArray(), Is.All.EqualTo(2f));
        // Caffe's (and Marvin's average_include) divisor counts the padding: corners 4·2/9, edges 6·2/9.
        var include = new[] { new Blob("i") };
        LayerForward(bottom, include, Pool(new PoolingParameter { Pool = PoolMethod.Ave, KernelSize = 3, Stride = 1, Pad = 1 }));
        AssertClose(include[0].Data, [8 / 9f, 12 / 9f, 8 / 9f, 12 / 9f, 2f, 12 / 9f, 8 / 9f, 12 / 9f, 8 / 9f], "include padding", 1e-6);
    }

    // ---- Marvin's synonyms -----------------------------------------------------------------

    [TestCase("MAX")]
    [TestCase("AVE")]
    public void MarvinWindowAndPaddingGiveTheCaffeResult(string method)
    {
        var bottom = Distinct("data", [2, 2, 5, 6, 4]);
        var t1 = new[] { new Blob("a") };
        var t2 = new[] { new Blob("b") };
        var t3 = new[] { new Blob("c") };
        var t4 = new[] { new Blob("d") };
        LayerForward(bottom, t1, TestData.Layer($"name: \"p\" type: \"Pooling\" pooling_param {{ pool: {method} kernel_nd: 3 kernel_nd: 2 kernel_nd: 2 stride_nd: 2 pad_nd: 1 }}"));
        LayerForward(bottom, t2, TestData.Layer($"name: \"p\" type: \"Pooling\" pooling_param {{ pool: {method} window: 3 window: 2 window: 2 stride_nd: 2 padding: 1 }}"));
        Assert.That(t2[0].Shape, Is.EqualTo(t1[0].Shape));
        Assert.That(t2[0].Data.ToArray(), Is.EqualTo(t1[0].Data.ToArray()));
        // Marvin's stride defaults to the window.
        LayerForward(bottom, t3, TestData.Layer($"name: \"p\" type: \"Pooling\" pooling_param {{ pool: {method} window: 2 }}"));
        LayerForward(bottom, t4, TestData.Layer($"name: \"p\" type: \"Pooling\" pooling_param {{ pool: {method} kernel_nd: 2 stride_nd: 2 }}"));
        Assert.That(t3[0].Shape, Is.EqualTo(new[] { 2, 2, 3, 3, 2 }));
        Assert.That(t3[0].Data.ToArray(), Is.EqualTo(t4[0].Data.ToArray()));
    }

    [TestCase("kernel_nd: 3 window: 3", "window")]
    [TestCase("window: 3 pad_nd: 1 padding: 1", "padding")]
    [TestCase("kernel_size: 3 window: 3", "not both")]
    [TestCase("kernel_nd: 3 stride: 2", "not both")]
    public void ConflictingFieldsAreAnError(string fields, string expected)
    {
        var bottom = TestData.Random("data", [1, 2, 5, 6, 4]);
        var ex = Assert.Throws<EngineException>(() => SetUp(TestData.Layer($$"""
            name: "both" type: "Pooling" pooling_param { pool: AVE {{fields}} }
            """), [bottom]));
        Assert.That(ex!.Message, Does.Contain("\"both\"").And.Contain(expected).And.Contain("not both"));
    }

    [Test]
    public void ExcludePaddingIsForAverageOnly()
    {
        var ex = Assert.Throws<EngineException>(() => SetUp(Pool(Nd(PoolMethod.Max, [3], [1], [1], exclude: true), "mx"), [TestData.Random("data", [1, 1, 4, 4])]));
        Assert.That(ex!.Message, Does.Contain("\"mx\"").And.Contain("AVE"));
    }
}
