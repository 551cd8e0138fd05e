using Engine.Core;
using Engine.Tests.Support;
using NUnit.Framework;
using static Engine.Tests.Layers.NeuronLossTestHelpers;

namespace Engine.Tests.Layers.Utility;

public class SplitLayerTests
{
    [Test]
    public void TopsShareTheBottomData()
    {
        var x = TestData.Random("x", [2, 3, 4]);
        var (layer, top) = SetUp(Param("Split", "split"), [x], tops: 3);
        layer.Forward([x], top);
        foreach (var t in top)
        {
            Assert.That(t.Shape, Is.EqualTo(x.Shape));
            Assert.That(t.Data.ToArray(), Is.EqualTo(x.Data.ToArray()));
        }
        x.Data[5] = 42;
        Assert.That(top[2].Data[5], Is.EqualTo(42f), "shared, not copied");

        // After a reshape the tops follow the bottom, still shared.
        x.Reshape(5, 6);
        layer.Reshape([x], top);
        x.Data[29] = -3;
        Assert.That(top[0].Shape, Is.EqualTo(new[] { 5, 6 }));
        Assert.That(top[1].Data[29], Is.EqualTo(-3f));
    }

    [TestCase(1)]
    [TestCase(2)]
    [TestCase(4)]
    public void BackwardSumsTheTopGradients(int n)
    {
        var x = TestData.Random("x", [3, 7]);
        var (layer, top) = SetUp(Param("Split", "split"), [x], tops: n);
        layer.Forward([x], top);
        var expected = new float[21];
        for (int t = 0; t < n; t++)
        {
            var dy = TestData.Random($"dy{t}", [3, 7], seed: (ulong)(10 + t));
            dy.Data.CopyTo(top[t].Diff);
            for (int i = 0; i < 21; i++) expected[i] += dy.Data[i];
        }
        layer.Backward(top, Down(true), [x]);
        Assert.That(x.Diff.ToArray(), Is.EqualTo(expected).Within(1e-6));
    }

    [Test]
    public void Gradient()
    {
        var x = TestData.Random("x", [2, 3, 2]);
        var (layer, top) = SetUp(Param("Split", "split"), [x], tops: 2);
        new GradientChecker(1e-2f, 1e-3f).Check(layer, [x], top);
    }

    [Test]
    public void InPlaceAndWrongCountsAreErrors()
    {
        var x = new Blob("x", 2, 3);
        var e = Assert.Throws<EngineException>(() => LayerRegistry.Create(Param("Split", "split")).SetUp([x], [new Blob("a"), x]))!;
        Assert.That(e.Message, Does.Contain("\"split\"").And.Contain("in place"));
        e = Assert.Throws<EngineException>(() => LayerRegistry.Create(Param("Split", "split")).SetUp([x], []))!;
        Assert.That(e.Message, Does.Contain("at least 1 top"));
        e = Assert.Throws<EngineException>(() => LayerRegistry.Create(Param("Split", "split")).SetUp([x, x], [new Blob("a")]))!;
        Assert.That(e.Message, Does.Contain("1 bottom"));
    }
}
