using Engine.Core;
using Engine.Tests.Support;
using NUnit.Framework;
using static Engine.Tests.Layers.NeuronLossTestHelpers;

namespace Engine.Tests.Layers.Utility;

/// <summary>Flatten, Reshape, Concat, Slice, Tile and Crop: hand-computed values, gradients, errors.</summary>
public class ShapeLayerTests
{
    private static Blob Iota(string name, params int[] shape)
    {
        var b = new Blob(name, shape);
        for (int i = 0; i < b.Count; i++) b.Data[i] = i;
        return b;
    }

    private static EngineException Fails(string prototxt, Blob[] bottoms, int tops = 1) =>
        Assert.Throws<EngineException>(() => SetUp(TestData.Layer(prototxt), bottoms, tops))!;

    // ---------------------------------------------------------------- Flatten

    [TestCase("", new[] { 2, 60 })]
    [TestCase("flatten_param { axis: 0 }", new[] { 120 })]
    [TestCase("flatten_param { axis: 1 end_axis: 2 }", new[] { 2, 12, 5 })]
    [TestCase("flatten_param { axis: -2 }", new[] { 2, 3, 20 })]
    [TestCase("flatten_param { axis: 2 end_axis: -2 }", new[] { 2, 3, 4, 5 })]
    public void FlattenShapesAndSharing(string param, int[] expected)
    {
        var x = Iota("x", 2, 3, 4, 5);
        var (layer, top) = SetUp(TestData.Layer($"name: 'fl' type: 'Flatten' {param}"), [x]);
        layer.Forward([x], top);
        Assert.That(top[0].Shape, Is.EqualTo(expected));
        Assert.That(top[0].Data.ToArray(), Is.EqualTo(x.Data.ToArray()));
        x.Data[7] = -1;
        Assert.That(top[0].Data[7], Is.EqualTo(-1f), "data shared");
        top[0].Diff[9] = 5;
        layer.Backward(top, Down(true), [x]);
        Assert.That(x.Diff[9], Is.EqualTo(5f), "diff shared");
    }

    [Test]
    public void FlattenErrors()
    {
        var e = Fails("name: 'fl1' type: 'Flatten' flatten_param { axis: 4 }", [new Blob("x", 2, 3, 4, 5)]);
        Assert.That(e.Message, Does.Contain("\"fl1\"").And.Contain("axis 4").And.Contain("2 3 4 5"));
        e = Fails("name: 'fl2' type: 'Flatten' flatten_param { axis: 2 end_axis: 1 }", [new Blob("x", 2, 3, 4, 5)]);
        Assert.That(e.Message, Does.Contain("\"fl2\"").And.Contain("end_axis"));
        var x = new Blob("x", 2, 3);
        e = Assert.Throws<EngineException>(() => LayerRegistry.Create(TestData.Layer("name: 'fl3' type: 'Flatten'")).SetUp([x], [x]))!;
        Assert.That(e.Message, Does.Contain("\"fl3\"").And.Contain("in place"));
    }

    // ---------------------------------------------------------------- Reshape

    [TestCase("shape { dim: 0 dim: -1 }", new[] { 2, 60 })]
    [TestCase("shape { dim: 6 dim: 4 dim: 5 }", new[] { 6, 4, 5 })]
    [TestCase("shape { dim: 0 dim: 2 dim: -1 dim: 0 }", new[] { 2, 2, 6, 5 })]
    [TestCase("shape { dim: 1 dim: 1 } axis: 1 num_axes: 0", new[] { 2, 1, 1, 3, 4, 5 })]
    [TestCase("shape { dim: -1 } axis: 1 num_axes: 2", new[] { 2, 12, 5 })]
    [TestCase("shape { dim: 2 dim: 2 } axis: -3 num_axes: 1", new[] { 2, 3, 2, 2, 5 })]
    [TestCase("shape { } axis: -1 num_axes: 0", new[] { 2, 3, 4, 5 })]
    [TestCase("shape { dim: 1 } axis: -1 num_axes: 0", new[] { 2, 3, 4, 5, 1 })]
    public void ReshapeShapesAndSharing(string param, int[] expected)
    {
        var x = Iota("x", 2, 3, 4, 5);
        var (layer, top) = SetUp(TestData.Layer($"name: 'rs' type: 'Reshape' reshape_param {{ {param} }}"), [x]);
        layer.Forward([x], top);
        Assert.That(top[0].Shape, Is.EqualTo(expected));
        Assert.That(top[0].Data.ToArray(), Is.EqualTo(x.Data.ToArray()));
        top[0].Diff[3] = 2;
        Assert.That(x.Diff[3], Is.EqualTo(2f));

        // Follows a new bottom shape (0 and -1 re-evaluated).
        if (param == "shape { dim: 0 dim: -1 }")
        {
            x.Reshape(4, 3, 2, 5);
            layer.Reshape([x], top);
            Assert.That(top[0].Shape, Is.EqualTo(new[] { 4, 30 }));
        }
    }

    [TestCase("shape { dim: 7 dim: -1 }", "multiple of 7")]
    [TestCase("shape { dim: 5 dim: 5 }", "25 elements")]
    [TestCase("shape { dim: -1 dim: -1 }", "at most one -1")]
    [TestCase("shape { dim: -3 }", "dim 0 is -3")]
    [TestCase("shape { dim: 0 dim: 0 dim: 0 dim: 0 dim: 0 }", "no axis 4")]
    [TestCase("shape { dim: 1 } axis: 5", "axis 5")]
    [TestCase("shape { dim: 1 } axis: 2 num_axes: 3", "runs past")]
    public void ReshapeErrors(string param, string what)
    {
        var e = Fails($"name: 'rs1' type: 'Reshape' reshape_param {{ {param} }}", [new Blob("x", 2, 3, 4, 5)]);
        Assert.That(e.Message, Does.Contain("\"rs1\"").And.Contain(what));
        e = Fails("name: 'rs2' type: 'Reshape'", [new Blob("x", 2)]);
        Assert.That(e.Message, Does.Contain("\"rs2\"").And.Contain("reshape_param"));
    }

    // ---------------------------------------------------------------- Concat

    [Test]
    public void ConcatAlongChannelsAndItems()
    {
        var a = TestData.FromValues("a", [2, 1, 2], 1, 2, 3, 4);
        var b = TestData.FromValues("b", [2, 2, 2], 10, 11, 12, 13, 14, 15, 16, 17);
        var (layer, top) = SetUp(TestData.Layer("name: 'cat' type: 'Concat'"), [a, b]);
        layer.Forward([a, b], top);
        Assert.That(top[0].Shape, Is.EqualTo(new[] { 2, 3, 2 }));
        Assert.That(top[0].Data.ToArray(), Is.EqualTo(new float[] { 1, 2, 10, 11, 12, 13, 3, 4, 14, 15, 16, 17 }));
        for (int i = 0; i < 12; i++) top[0].Diff[i] = 100 + i;
        layer.Backward(top, Down(true, true), [a, b]);
        Assert.That(a.Diff.ToArray(), Is.EqualTo(new float[] { 100, 101, 106, 107 }));
        Assert.That(b.Diff.ToArray(), Is.EqualTo(new float[] { 102, 103, 104, 105, 108, 109, 110, 111 }));

        var c = TestData.FromValues("c", [1, 1, 2], 7, 8);
        var (legacy, lt) = SetUp(TestData.Layer("name: 'cat' type: 'Concat' concat_param { concat_dim: 0 }"), [a, c]);
        legacy.Forward([a, c], lt);
        Assert.That(lt[0].Shape, Is.EqualTo(new[] { 3, 1, 2 }));
        Assert.That(lt[0].Data.ToArray(), Is.EqualTo(new float[] { 1, 2, 3, 4, 7, 8 }));
    }

    [Test]
    public void ConcatMarvinGroups()
    {
        var b = Enumerable.Range(0, 6).Select(i => TestData.FromValues($"b{i}", [1, 1, 2], 10 * i, 10 * i + 1)).ToArray();
        var (layer, top) = SetUp(TestData.Layer("name: 'cat' type: 'Concat' concat_param { axis: 2 }"), b, tops: 2);
        layer.Forward(b, top);
        Assert.That(top[0].Shape, Is.EqualTo(new[] { 1, 1, 6 }));
        Assert.That(top[0].Data.ToArray(), Is.EqualTo(new float[] { 0, 1, 10, 11, 20, 21 }));
        Assert.That(top[1].Data.ToArray(), Is.EqualTo(new float[] { 30, 31, 40, 41, 50, 51 }));
        for (int i = 0; i < 6; i++) { top[0].Diff[i] = i; top[1].Diff[i] = -i; }
        layer.Backward(top, Enumerable.Repeat(true, 6).ToArray(), b);
        Assert.That(b[1].Diff.ToArray(), Is.EqualTo(new float[] { 2, 3 }));
        Assert.That(b[5].Diff.ToArray(), Is.EqualTo(new float[] { -4, -5 }));

        var e = Fails("name: 'cat2' type: 'Concat'", b.Take(5).ToArray(), tops: 2);
        Assert.That(e.Message, Does.Contain("\"cat2\"").And.Contain("groups of at least 2"));
        e = Fails("name: 'cat3' type: 'Concat'", b.Take(3).ToArray(), tops: 3);
        Assert.That(e.Message, Does.Contain("\"cat3\"").And.Contain("groups"));
    }

    [Test]
    public void ConcatSingleBottomShares()
    {
        var a = Iota("a", 2, 3);
        var (layer, top) = SetUp(TestData.Layer("name: 'cat' type: 'Concat'"), [a]);
        layer.Forward([a], top);
        Assert.That(top[0].Data.ToArray(), Is.EqualTo(a.Data.ToArray()));
        top[0].Diff[4] = 3;
        Assert.That(a.Diff[4], Is.EqualTo(3f));
    }

    [TestCase(0)]
    [TestCase(1)]
    [TestCase(-1)]
    public void ConcatGradient(int axis)
    {
        var a = TestData.Random("a", [2, 3, 4], seed: 1);
        var b = TestData.Random("b", axis == 0 ? [1, 3, 4] : axis == 1 ? [2, 2, 4] : [2, 3, 2], seed: 2);
        var (layer, top) = SetUp(TestData.Layer($"name: 'cat' type: 'Concat' concat_param {{ axis: {axis} }}"), [a, b]);
        new GradientChecker(1e-2f, 1e-3f).Check(layer, [a, b], top);
    }

    [Test]
    public void ConcatErrors()
    {
        var e = Fails("name: 'cat1' type: 'Concat'", [new Blob("a", 2, 3, 4), new Blob("b", 3, 3, 4)]);
        Assert.That(e.Message, Does.Contain("\"cat1\"").And.Contain("3 3 4").And.Contain("2 3 4"));
        e = Fails("name: 'cat1' type: 'Concat' concat_param { axis: 3 }", [new Blob("a", 2, 3, 4), new Blob("b", 2, 3, 4)]);
        Assert.That(e.Message, Does.Contain("\"cat1\"").And.Contain("axis 3"));
        e = Fails("name: 'cat1' type: 'Concat' concat_param { axis: 1 concat_dim: 1 }", [new Blob("a", 2, 3), new Blob("b", 2, 3)]);
        Assert.That(e.Message, Does.Contain("\"cat1\"").And.Contain("not both"));
    }

    // ---------------------------------------------------------------- Slice

    [Test]
    public void SliceAtPointsAndEvenly()
    {
        var x = Iota("x", 2, 5, 2);
        var (layer, top) = SetUp(TestData.Layer("name: 'sl' type: 'Slice' slice_param { slice_point: 1 slice_point: 4 }"), [x], tops: 3);
        layer.Forward([x], top);
        Assert.That(top.Select(t => t.Shape.ToArray()), Is.EqualTo(new[] { new[] { 2, 1, 2 }, new[] { 2, 3, 2 }, new[] { 2, 1, 2 } }));
        Assert.That(top[0].Data.ToArray(), Is.EqualTo(new float[] { 0, 1, 10, 11 }));
        Assert.That(top[1].Data.ToArray(), Is.EqualTo(new float[] { 2, 3, 4, 5, 6, 7, 12, 13, 14, 15, 16, 17 }));
        Assert.That(top[2].Data.ToArray(), Is.EqualTo(new float[] { 8, 9, 18, 19 }));
        foreach (var t in top) t.Data.CopyTo(t.Diff);
        layer.Backward(top, Down(true), [x]);
        Assert.That(x.Diff.ToArray(), Is.EqualTo(x.Data.ToArray()), "slicing the gradient back rebuilds the bottom");

        var y = Iota("y", 4, 3);
        var (even, et) = SetUp(TestData.Layer("name: 'sl' type: 'Slice' slice_param { slice_dim: 0 }"), [y], tops: 2);
        even.Forward([y], et);
        Assert.That(et[1].Shape, Is.EqualTo(new[] { 2, 3 }));
        Assert.That(et[1].Data.ToArray(), Is.EqualTo(new float[] { 6, 7, 8, 9, 10, 11 }));
    }

    [TestCase("slice_param { axis: 1 slice_point: 2 }", 2)]
    [TestCase("slice_param { axis: -1 }", 2)]
    [TestCase("slice_param { axis: 0 slice_point: 1 slice_point: 2 }", 3)]
    public void SliceGradient(string param, int tops)
    {
        var x = TestData.Random("x", [3, 5, 4]);
        var (layer, top) = SetUp(TestData.Layer($"name: 'sl' type: 'Slice' {param}"), [x], tops);
        new GradientChecker(1e-2f, 1e-3f).Check(layer, [x], top);
    }

    [TestCase("slice_param { slice_point: 2 }", 3, "1 slice_point values for 3 tops")]
    [TestCase("slice_param { slice_point: 3 slice_point: 2 }", 3, "increasing")]
    [TestCase("slice_param { slice_point: 5 }", 2, "inside (0, 5)")]
    [TestCase("", 2, "do not split evenly")]
    [TestCase("slice_param { axis: 3 }", 2, "axis 3")]
    [TestCase("slice_param { axis: 1 slice_dim: 1 }", 2, "not both")]
    public void SliceErrors(string param, int tops, string what)
    {
        var e = Fails($"name: 'sl1' type: 'Slice' {param}", [new Blob("x", 2, 5, 3)], tops);
        Assert.That(e.Message, Does.Contain("\"sl1\"").And.Contain(what));
    }

    // ---------------------------------------------------------------- Tile

    [Test]
    public void TileRepeatsAlongTheAxis()
    {
        var x = TestData.FromValues("x", [2, 2], 1, 2, 3, 4);
        var (layer, top) = SetUp(TestData.Layer("name: 'tile' type: 'Tile' tile_param { tiles: 3 }"), [x]);
        layer.Forward([x], top);
        Assert.That(top[0].Shape, Is.EqualTo(new[] { 2, 6 }));
        Assert.That(top[0].Data.ToArray(), Is.EqualTo(new float[] { 1, 2, 1, 2, 1, 2, 3, 4, 3, 4, 3, 4 }));
        for (int i = 0; i < 12; i++) top[0].Diff[i] = i;
        layer.Backward(top, Down(true), [x]);
        Assert.That(x.Diff.ToArray(), Is.EqualTo(new float[] { 0 + 2 + 4, 1 + 3 + 5, 6 + 8 + 10, 7 + 9 + 11 }));

        var (axis0, t0) = SetUp(TestData.Layer("name: 'tile' type: 'Tile' tile_param { axis: 0 tiles: 2 }"), [x]);
        axis0.Forward([x], t0);
        Assert.That(t0[0].Shape, Is.EqualTo(new[] { 4, 2 }));
        Assert.That(t0[0].Data.ToArray(), Is.EqualTo(new float[] { 1, 2, 3, 4, 1, 2, 3, 4 }));
    }

    [TestCase(0)]
    [TestCase(1)]
    [TestCase(-1)]
    public void TileGradient(int axis)
    {
        var x = TestData.Random("x", [2, 3, 4]);
        var (layer, top) = SetUp(TestData.Layer($"name: 'tile' type: 'Tile' tile_param {{ axis: {axis} tiles: 3 }}"), [x]);
        new GradientChecker(1e-2f, 1e-3f).Check(layer, [x], top);
    }

    [TestCase("", "tiles is required")]
    [TestCase("tile_param { tiles: 0 }", "must be positive")]
    [TestCase("tile_param { tiles: 2 axis: 2 }", "axis 2")]
    public void TileErrors(string param, string what)
    {
        var e = Fails($"name: 'tile1' type: 'Tile' {param}", [new Blob("x", 2, 3)]);
        Assert.That(e.Message, Does.Contain("\"tile1\"").And.Contain(what));
    }

    // ---------------------------------------------------------------- Crop

    [Test]
    public void CropTakesTheWindow()
    {
        var x = Iota("x", 1, 2, 4, 5);
        var reference = new Blob("ref", 1, 1, 2, 3);
        var (layer, top) = SetUp(TestData.Layer("name: 'crop' type: 'Crop' crop_param { offset: 1 offset: 2 }"), [x, reference]);
        layer.Forward([x, reference], top);
        Assert.That(top[0].Shape, Is.EqualTo(new[] { 1, 2, 2, 3 }), "axes before 2 keep bottom 0's size");
        Assert.That(top[0].Data.ToArray(), Is.EqualTo(new float[] { 7, 8, 9, 12, 13, 14, 27, 28, 29, 32, 33, 34 }));
        top[0].Diff.Fill(1);
        layer.Backward(top, Down(true, false), [x, reference]);
        Assert.That(x.Diff.ToArray().Sum(), Is.EqualTo(12f));
        Assert.That(x.Diff[7], Is.EqualTo(1f));
        Assert.That(x.Diff[6], Is.EqualTo(0f));

        var (all, at) = SetUp(TestData.Layer("name: 'crop' type: 'Crop' crop_param { axis: 1 offset: 1 }"), [x, new Blob("r", 1, 1, 3, 3)]);
        all.Forward([x, new Blob("r", 1, 1, 3, 3)], at);
        Assert.That(at[0].Data.ToArray(), Is.EqualTo(new float[] { 26, 27, 28, 31, 32, 33, 36, 37, 38 }));
        Assert.That(all.CanBackward(1), Is.False);
    }

    [Test]
    public void CropGradient()
    {
        var x = TestData.Random("x", [2, 3, 5, 4]);
        var reference = new Blob("ref", 2, 3, 3, 2);
        var (layer, top) = SetUp(TestData.Layer("name: 'crop' type: 'Crop' crop_param { offset: 1 offset: 2 }"), [x, reference]);
        new GradientChecker(1e-2f, 1e-3f).Check(layer, [x, reference], top, checkBottoms: [0]);
    }

    [TestCase("crop_param { offset: 3 }", "exceeds")]
    [TestCase("crop_param { offset: 0 offset: 0 offset: 0 }", "3 crop_param.offset values")]
    [TestCase("crop_param { axis: 4 }", "axis 4")]
    public void CropErrors(string param, string what)
    {
        var e = Fails($"name: 'crop1' type: 'Crop' {param}", [new Blob("x", 1, 2, 4, 5), new Blob("r", 1, 2, 2, 3)]);
        Assert.That(e.Message, Does.Contain("\"crop1\"").And.Contain(what));
        e = Fails("name: 'crop2' type: 'Crop'", [new Blob("x", 1, 2, 4, 5), new Blob("r", 2, 3)]);
        Assert.That(e.Message, Does.Contain("\"crop2\"").And.Contain("1 2 4 5").And.Contain("2 3"));
    }
}
