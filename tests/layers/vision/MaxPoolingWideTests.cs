using Engine.Core;
using Engine.Tests.Support;
using NUnit.Framework;
using static Engine.Tests.Support.VisionTestHelpers;

namespace Engine.Tests.Layers.Vision;

/// <summary>
/// MAX pooling (column maxima eight input columns at a time, then each window's columns), on wide
/// and narrow planes, against a naive loop written here with Caffe's rule:
/// the window's first cell starts, a later cell wins only when strictly larger. Values are
/// quantised so that ties are common and the tie rule is exercised.
/// </summary>
[TestFixture]
public class MaxPoolingWideTests
{
    [TestCase(3, 2, 0, 37, 41)]
    [TestCase(3, 2, 1, 19, 37)]
    [TestCase(2, 2, 0, 16, 32)]
    [TestCase(3, 1, 1, 9, 29)]
    [TestCase(5, 3, 2, 23, 50)]
    [TestCase(3, 2, 0, 7, 7)]
    [TestCase(2, 1, 0, 5, 13)]
    [TestCase(3, 3, 1, 11, 17)]
    public void MatchesNaiveWithTies(int kernel, int stride, int pad, int height, int width)
    {
        var bottom = TestData.Random("b", [2, 3, height, width], seed: 9);
        var x = bottom.Data;
        for (int i = 0; i < x.Length; i++) x[i] = MathF.Round(x[i] * 3); // values in {-3..3}: many ties
        var (layer, tops) = SetUp(TestData.Layer($$"""
            name: "p" type: "Pooling" pooling_param { pool: MAX kernel_size: {{kernel}} stride: {{stride}} pad: {{pad}} }
            """), [bottom], tops: 2);
        layer.Forward([bottom], tops);
        int outH = tops[0].Dim(2), outW = tops[0].Dim(3);
        for (int plane = 0; plane < 6; plane++)
            for (int ph = 0; ph < outH; ph++)
                for (int pw = 0; pw < outW; pw++)
                {
                    int h0 = Math.Max(ph * stride - pad, 0), h1 = Math.Min(ph * stride - pad + kernel, height);
                    int w0 = Math.Max(pw * stride - pad, 0), w1 = Math.Min(pw * stride - pad + kernel, width);
                    float best = float.NegativeInfinity;
                    int arg = -1;
                    for (int h = h0; h < h1; h++)
                        for (int w = w0; w < w1; w++)
                        {
                            float v = x[plane * height * width + h * width + w];
                            if (arg < 0 || v > best) (best, arg) = (v, h * width + w);
                        }
                    int o = (plane * outH + ph) * outW + pw;
                    Assert.That(tops[0].Data[o], Is.EqualTo(best), $"max at plane {plane} ({ph}, {pw})");
                    Assert.That(tops[1].Data[o], Is.EqualTo((float)arg), $"argmax at plane {plane} ({ph}, {pw})");
                }
    }
}
