using Engine.Core;
using Engine.Proto;
using NUnit.Framework;

namespace Engine.Tests.Layers.Data;

[TestFixture]
public class DummyDataLayerTests
{
    private static BlobShape Shape(params long[] dims)
    {
        var s = new BlobShape();
        s.Dim.AddRange(dims);
        return s;
    }

    private static (Layer layer, List<Blob> tops) SetUp(DummyDataParameter dp, int tops)
    {
        var layer = LayerRegistry.Create(new LayerParameter { Name = "dummy", Type = "DummyData", DummyDataParam = dp, Phase = Phase.Train });
        layer.Rng = new Rng(17);
        var t = Enumerable.Range(0, tops).Select(i => new Blob($"t{i}")).ToList();
        layer.SetUp(new List<Blob>(), t);
        return (layer, t);
    }

    [Test]
    public void NoFillerMeansZeros()
    {
        var (layer, tops) = SetUp(new DummyDataParameter { Shape = { Shape(2, 3, 4) } }, 2);
        foreach (var t in tops)
        {
            Assert.That(t.Shape, Is.EqualTo(new[] { 2, 3, 4 }));
            Assert.That(t.Data.ToArray(), Is.All.EqualTo(0f));
        }
        layer.Forward(new List<Blob>(), tops);
        Assert.That(tops[0].Data.ToArray(), Is.All.EqualTo(0f));
    }

    [Test]
    public void ConstantFillsOnceAtSetUp()
    {
        var (layer, tops) = SetUp(new DummyDataParameter
        {
            Shape = { Shape(3, 2) },
            DataFiller = { new FillerParameter { Type = "constant", Value = 2.5f } },
        }, 1);
        Assert.That(tops[0].Data.ToArray(), Is.All.EqualTo(2.5f));
        tops[0].Data[0] = -1;   // Caffe fills constants once: a later forward does not refill
        layer.Forward(new List<Blob>(), tops);
        Assert.That(tops[0].Data[0], Is.EqualTo(-1f));
        Assert.That(tops[0].Data[1], Is.EqualTo(2.5f));
    }

    [Test]
    public void UniformRefillsEveryForwardWithinItsRange()
    {
        var (layer, tops) = SetUp(new DummyDataParameter
        {
            Shape = { Shape(10, 10) },
            DataFiller = { new FillerParameter { Type = "uniform", Min = -3, Max = 5 } },
        }, 1);
        layer.Forward(new List<Blob>(), tops);
        var first = tops[0].Data.ToArray();
        Assert.That(first, Is.All.InRange(-3f, 5f));
        Assert.That(first.Min(), Is.LessThan(-2f));
        Assert.That(first.Max(), Is.GreaterThan(4f));
        layer.Forward(new List<Blob>(), tops);
        var second = tops[0].Data.ToArray();
        Assert.That(second, Is.All.InRange(-3f, 5f));
        Assert.That(second, Is.Not.EqualTo(first), "non-constant fillers refill on every forward");
    }

    [Test]
    public void LegacyDimsAndOneFillerPerTop()
    {
        var (layer, tops) = SetUp(new DummyDataParameter
        {
            Num = { 5, 2 },
            Channels = { 3 },
            Height = { 1 },
            Width = { 4, 1 },
            DataFiller =
            {
                new FillerParameter { Type = "constant", Value = 7 },
                new FillerParameter { Type = "gaussian", Mean = 10, Std = 0.1f },
            },
        }, 2);
        layer.Forward(new List<Blob>(), tops);
        Assert.That(tops[0].Shape, Is.EqualTo(new[] { 5, 3, 1, 4 }));
        Assert.That(tops[1].Shape, Is.EqualTo(new[] { 2, 3, 1, 1 }));
        Assert.That(tops[0].Data.ToArray(), Is.All.EqualTo(7f));
        Assert.That(tops[1].Data.ToArray(), Is.All.InRange(9f, 11f));
        Assert.That(tops[1].Data.ToArray().Distinct().Count(), Is.EqualTo(6));
    }

    [Test]
    public void OneShapePerTop()
    {
        var (_, tops) = SetUp(new DummyDataParameter { Shape = { Shape(4), Shape(1, 2) } }, 2);
        Assert.That(tops[0].Shape, Is.EqualTo(new[] { 4 }));
        Assert.That(tops[1].Shape, Is.EqualTo(new[] { 1, 2 }));
    }

    [Test]
    public void Mistakes()
    {
        string Msg(DummyDataParameter dp, int tops) => Assert.Throws<EngineException>(() => SetUp(dp, tops))!.Message;
        Assert.That(Msg(new DummyDataParameter { Shape = { Shape(1), Shape(2) } }, 3),
            Does.Contain("layer \"dummy\" (DummyData)").And.Contain("2 shapes for 3 tops"));
        Assert.That(Msg(new DummyDataParameter(), 1), Does.Contain("0 shapes for 1 tops"));
        Assert.That(Msg(new DummyDataParameter { Shape = { Shape(1) }, Num = { 1 }, Channels = { 1 }, Height = { 1 }, Width = { 1 } }, 1),
            Does.Contain("both shape and the legacy"));
        Assert.That(Msg(new DummyDataParameter { Num = { 1 }, Channels = { 1 }, Height = { 1 } }, 1), Does.Contain("0 width values"));
        Assert.That(Msg(new DummyDataParameter
        {
            Shape = { Shape(1) },
            DataFiller = { new FillerParameter(), new FillerParameter() },
        }, 3), Does.Contain("2 data_filler entries for 3 tops"));
        Assert.That(Msg(new DummyDataParameter { Shape = { Shape(2) }, DataFiller = { new FillerParameter { Type = "nonsense" } } }, 1),
            Does.Contain("unknown filler type \"nonsense\""));
    }
}
