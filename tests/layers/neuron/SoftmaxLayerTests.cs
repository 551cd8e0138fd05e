using Engine.Core;
using Engine.Graph;
using Engine.Proto;
using Engine.Tests.Support;
using NUnit.Framework;
using static Engine.Tests.Layers.NeuronLossTestHelpers;

namespace Engine.Tests.Layers.Neuron;

public class SoftmaxLayerTests
{
    private static LayerParameter Softmax(int? axis = null, bool? stable = null)
    {
        var p = new LayerParameter { Name = "prob", Type = "Softmax", Phase = Phase.Train };
        if (axis != null || stable != null)
        {
            p.SoftmaxParam = new SoftmaxParameter();
            if (axis is int a) p.SoftmaxParam.Axis = a;
            if (stable is bool s) p.SoftmaxParam.StableGradient = s;
        }
        return p;
    }

    [TestCase("softmax4d")]
    [TestCase("softmax2d")]
    public void MatchesPyTorch(string fixture)
    {
        var x = Fixture($"{fixture}_x");
        var (layer, top) = SetUp(Softmax(), [x]);
        layer.Forward([x], top);
        AssertClose(top[0].Data, Fixture($"{fixture}_y").Data, $"{fixture} y");
        Fixture($"{fixture}_dy").Data.CopyTo(top[0].Diff);
        layer.Backward(top, Down(true), [x]);
        // The Jacobian subtracts Σ dy·y from dy: allow for float32 cancellation.
        AssertClose(x.Diff, Fixture($"{fixture}_dx").Data, $"{fixture} dx", abs: 1e-6);
    }

    [TestCase(0)]
    [TestCase(1)]
    [TestCase(2)]
    [TestCase(-1)]
    public void SumsToOneAlongTheAxis(int axis)
    {
        int[] shape = [3, 4, 5];
        var x = TestData.Random("x", shape, lo: -5, hi: 5);
        var (layer, top) = SetUp(Softmax(axis), [x]);
        layer.Forward([x], top);
        int a = axis < 0 ? axis + 3 : axis;
        int outer = shape[..a].Aggregate(1, (p, d) => p * d), channels = shape[a], inner = shape[(a + 1)..].Aggregate(1, (p, d) => p * d);
        for (int o = 0; o < outer; o++)
            for (int i = 0; i < inner; i++)
            {
                double sum = 0, max = double.NegativeInfinity;
                for (int c = 0; c < channels; c++) max = Math.Max(max, x.Data[(o * channels + c) * inner + i]);
                for (int c = 0; c < channels; c++) sum += Math.Exp(x.Data[(o * channels + c) * inner + i] - max);
                for (int c = 0; c < channels; c++)
                {
                    int k = (o * channels + c) * inner + i;
                    Assert.That(top[0].Data[k], Is.EqualTo(Math.Exp(x.Data[k] - max) / sum).Within(1e-6));
                }
            }
    }

    [Test]
    public void HugeScoresStayFinite()
    {
        var x = TestData.FromValues("x", [2, 3], 1000f, 999f, -1000f, -1e30f, 0f, 1e30f);
        var (layer, top) = SetUp(Softmax(), [x]);
        layer.Forward([x], top);
        double e1 = Math.Exp(-1);
        Assert.That(top[0].Data.ToArray(), Is.EqualTo(new[] { (float)(1 / (1 + e1)), (float)(e1 / (1 + e1)), 0f, 0f, 0f, 1f }).Within(1e-6));
    }

    [TestCase(1)]
    [TestCase(2)]
    public void ExactGradient(int axis)
    {
        var x = TestData.Random("x", [2, 3, 4, 2], lo: -2, hi: 2);
        var (layer, top) = SetUp(Softmax(axis), [x]);
        Assert.That(((IStableGradientSoftmax)layer).PassThrough, Is.False, "exact unless the net pairs it");
        new GradientChecker(1e-2f, 1e-3f).Check(layer, [x], top);
    }

    [Test]
    public void PassThroughCopiesTheTopGradientUnchanged()
    {
        var x = TestData.Random("x", [2, 5, 3]);
        var (layer, top) = SetUp(Softmax(), [x]);
        ((IStableGradientSoftmax)layer).PassThrough = true;
        layer.Forward([x], top);
        var dy = TestData.Random("dy", [2, 5, 3], seed: 11);
        dy.Data.CopyTo(top[0].Diff);
        layer.Backward(top, Down(true), [x]);
        Assert.That(x.Diff.ToArray(), Is.EqualTo(dy.Data.ToArray()));
    }

    [Test]
    public void StableGradientFlags()
    {
        var dflt = (IStableGradientSoftmax)LayerRegistry.Create(Softmax());
        Assert.That((dflt.StableGradient, dflt.StableGradientExplicit), Is.EqualTo((true, false)));
        var axisOnly = (IStableGradientSoftmax)LayerRegistry.Create(Softmax(axis: 1));
        Assert.That((axisOnly.StableGradient, axisOnly.StableGradientExplicit), Is.EqualTo((true, false)));
        var on = (IStableGradientSoftmax)LayerRegistry.Create(Softmax(stable: true));
        Assert.That((on.StableGradient, on.StableGradientExplicit), Is.EqualTo((true, true)));
        var off = (IStableGradientSoftmax)LayerRegistry.Create(Softmax(stable: false));
        Assert.That((off.StableGradient, off.StableGradientExplicit), Is.EqualTo((false, true)));
    }

    [TestCase(false)]
    [TestCase(true)]
    public void InPlaceMatchesSeparateBlobs(bool spatial)
    {
        int[] shape = spatial ? [2, 4, 3] : [3, 6];
        var x = TestData.Random("x", shape, lo: -3, hi: 3);
        var dy = TestData.Random("dy", shape, seed: 12);
        var (sep, top) = SetUp(Softmax(), [x]);
        sep.Forward([x], top);
        dy.Data.CopyTo(top[0].Diff);
        sep.Backward(top, Down(true), [x]);

        var s = new Blob("s", shape);
        x.Data.CopyTo(s.Data);
        var inPlace = LayerRegistry.Create(Softmax());
        inPlace.SetUp([s], [s]);
        inPlace.Forward([s], [s]);
        Assert.That(s.Data.ToArray(), Is.EqualTo(top[0].Data.ToArray()));
        dy.Data.CopyTo(s.Diff);
        inPlace.Backward([s], Down(true), [s]);
        Assert.That(s.Diff.ToArray(), Is.EqualTo(x.Diff.ToArray()).Within(1e-7));
    }

    [Test]
    public void AxisOutOfRangeIsAnError()
    {
        var x = new Blob("scores", 2, 3);
        var e = Assert.Throws<EngineException>(() => SetUp(Softmax(axis: 2), [x]))!;
        Assert.That(e.Message, Does.Contain("\"prob\"").And.Contain("axis 2"));
    }
}
