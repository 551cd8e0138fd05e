using Engine.Core;
using Engine.Proto;
using NUnit.Framework;

namespace Engine.Tests.Layers.Data;

[TestFixture]
public class InputLayerTests
{
    private static BlobShape Shape(params long[] dims)
    {
        var s = new BlobShape();
        s.Dim.AddRange(dims);
        return s;
    }

    private static (Layer layer, List<Blob> tops) SetUp(InputParameter? ip, int tops)
    {
        var p = new LayerParameter { Name = "in", Type = "Input", Phase = Phase.Test };
        if (ip != null) p.InputParam = ip;
        var layer = LayerRegistry.Create(p);
        var t = Enumerable.Range(0, tops).Select(i => new Blob($"t{i}")).ToList();
        layer.SetUp(new List<Blob>(), t);
        return (layer, t);
    }

    [Test]
    public void OneShapeForEveryTop()
    {
        var (_, tops) = SetUp(new InputParameter { Shape = { Shape(64, 1, 28, 28) } }, 2);
        Assert.That(tops[0].Shape, Is.EqualTo(new[] { 64, 1, 28, 28 }));
        Assert.That(tops[1].Shape, Is.EqualTo(new[] { 64, 1, 28, 28 }));
    }

    [Test]
    public void OneShapePerTop()
    {
        var (_, tops) = SetUp(new InputParameter { Shape = { Shape(2, 3), Shape(5) } }, 2);
        Assert.That(tops[0].Shape, Is.EqualTo(new[] { 2, 3 }));
        Assert.That(tops[1].Shape, Is.EqualTo(new[] { 5 }));
    }

    [Test]
    public void CallerFillsAndReshapesTheTops()
    {
        var (layer, tops) = SetUp(new InputParameter { Shape = { Shape(2, 2) } }, 1);
        new float[] { 1, 2, 3, 4 }.CopyTo(tops[0].Data);
        layer.Forward(new List<Blob>(), tops);
        Assert.That(tops[0].Data.ToArray(), Is.EqualTo(new float[] { 1, 2, 3, 4 }), "forward leaves the caller's values");
        tops[0].Reshape(3, 2);
        layer.Reshape(new List<Blob>(), tops);
        Assert.That(tops[0].Shape, Is.EqualTo(new[] { 3, 2 }), "reshape keeps the caller's shape");
        Assert.DoesNotThrow(() => layer.Backward(tops, new bool[0], new List<Blob>()));
    }

    [Test]
    public void NoShapeLeavesTheTopsToTheCaller()
    {
        var (_, tops) = SetUp(null, 1);
        Assert.That(tops[0].NumAxes, Is.Zero);
    }

    [Test]
    public void WrongShapeCountOrBottomsAreErrors()
    {
        var e = Assert.Throws<EngineException>(() => SetUp(new InputParameter { Shape = { Shape(1), Shape(2) } }, 3))!;
        Assert.That(e.Message, Does.Contain("layer \"in\" (Input)").And.Contain("2 shapes for 3 tops"));
        e = Assert.Throws<EngineException>(() => SetUp(new InputParameter { Shape = { Shape(1, -2) } }, 1))!;
        Assert.That(e.Message, Does.Contain("dimension 1 is -2"));
        var layer = LayerRegistry.Create(new LayerParameter { Name = "in", Type = "Input" });
        e = Assert.Throws<EngineException>(() => layer.SetUp(new List<Blob> { new("x") }, new List<Blob> { new("y") }))!;
        Assert.That(e.Message, Does.Contain("takes 0 bottoms"));
    }
}
