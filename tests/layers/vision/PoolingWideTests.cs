using Engine.Core;
using Engine.Proto;
using Engine.Tests.Support;
using NUnit.Framework;
using static Engine.Tests.Support.VisionTestHelpers;
using PoolMethod = Engine.Proto.PoolingParameter.Types.PoolMethod;

namespace Engine.Tests.Layers.Vision;

/// <summary>
/// Pooling on planes wide enough for the vectorised paths (column maxima and sums eight input
/// columns at a time; interior windows eight at a time for strides 1 and 2) and on narrow ones,
/// against Caffe's loops written here cell by cell: for MAX the window's first cell starts and a
/// later cell wins only when strictly larger. Values are quantised so that ties are common and the
/// tie rule is exercised.
/// </summary>
[TestFixture]
public class PoolingWideTests
{
    /// <summary>Caffe's forward (top and, for MAX, the argmax) and backward for one set of planes.</summary>
    private static (float[] Top, float[] Mask, float[] BottomDiff) Naive(PoolMethod method, ReadOnlySpan<float> x, float[] topDiff,
        int planes, int h, int w, int outH, int outW, int k, int s, int pad)
    {
        var top = new float[planes * outH * outW];
        var mask = new float[top.Length];
        var bottomDiff = new float[x.Length];
        for (int pl = 0; pl < planes; pl++)
            for (int ph = 0; ph < outH; ph++)
                for (int pw = 0; pw < outW; pw++)
                {
                    int hs = ph * s - pad, ws = pw * s - pad;
                    int he = Math.Min(hs + k, h + pad), we = Math.Min(ws + k, w + pad);
                    int size = (he - hs) * (we - ws); // AVE: the window clipped to the padded input
                    hs = Math.Max(hs, 0); ws = Math.Max(ws, 0); he = Math.Min(he, h); we = Math.Min(we, w);
                    int o = (pl * outH + ph) * outW + pw;
                    float best = float.NegativeInfinity, sum = 0;
                    int arg = -1;
                    for (int y = hs; y < he; y++)
                        for (int z = ws; z < we; z++)
                        {
                            float v = x[(pl * h + y) * w + z];
                            sum += v;
                            if (arg < 0 || v > best) (best, arg) = (v, y * w + z);
                        }
                    if (method == PoolMethod.Max)
                    {
                        top[o] = best;
                        mask[o] = arg;
                        bottomDiff[pl * h * w + arg] += topDiff[o];
                    }
                    else
                    {
                        top[o] = sum / size;
                        for (int y = hs; y < he; y++)
                            for (int z = ws; z < we; z++)
                                bottomDiff[(pl * h + y) * w + z] += topDiff[o] / size;
                    }
                }
        return (top, mask, bottomDiff);
    }

    // Several vectors of windows and odd remainders, strides 1 and 2 (vectorised) and 3 (cell by
    // cell), with and without padding, and planes narrower than one vector.
    [TestCase(3, 2, 0, 37, 41)]
    [TestCase(3, 2, 1, 19, 37)]
    [TestCase(3, 2, 1, 32, 32)]
    [TestCase(2, 2, 0, 16, 32)]
    [TestCase(2, 2, 1, 17, 36)]
    [TestCase(3, 1, 1, 9, 29)]
    [TestCase(2, 1, 0, 19, 40)]
    [TestCase(5, 2, 2, 12, 41)]
    [TestCase(5, 3, 2, 23, 50)]
    [TestCase(3, 3, 1, 11, 17)]
    [TestCase(3, 2, 0, 7, 7)]
    [TestCase(2, 1, 0, 5, 13)]
    public void MatchesCaffesLoopsWithTies(int kernel, int stride, int pad, int height, int width)
    {
        var bottom = TestData.Random("b", [2, 3, height, width], seed: 9);
        var x = bottom.Data;
        for (int i = 0; i < x.Length; i++) x[i] = MathF.Round(x[i] * 3); // values in {-3..3}: many ties
        var rng = new Random(kernel * 1000 + stride * 100 + pad * 10 + width);
        foreach (var method in new[] { PoolMethod.Max, PoolMethod.Ave })
        {
            var (layer, tops) = SetUp(TestData.Layer($$"""
                name: "p" type: "Pooling" pooling_param { pool: {{method.ToString().ToUpperInvariant()}} kernel_size: {{kernel}} stride: {{stride}} pad: {{pad}} }
                """), [bottom], tops: method == PoolMethod.Max ? 2 : 1);
            layer.Forward([bottom], tops);
            int outH = tops[0].Dim(2), outW = tops[0].Dim(3);
            var topDiff = Enumerable.Range(0, (int)tops[0].Count).Select(_ => (float)rng.NextDouble() - 0.5f).ToArray();
            topDiff.CopyTo(tops[0].Diff);
            layer.Backward(tops, [true], [bottom]);
            var (top, mask, bottomDiff) = Naive(method, x, topDiff, 6, height, width, outH, outW, kernel, stride, pad);
            if (method == PoolMethod.Max)
            {
                Assert.That(tops[0].Data.ToArray(), Is.EqualTo(top), "max, exactly");
                Assert.That(tops[1].Data.ToArray(), Is.EqualTo(mask), "argmax: the first maximum in row-major order");
            }
            else
            {
                AssertClose(tops[0].Data, top, "ave", 1e-6);
            }
            AssertClose(bottom.Diff, bottomDiff, $"{method} bottom gradient", 1e-6);
        }
    }
}
