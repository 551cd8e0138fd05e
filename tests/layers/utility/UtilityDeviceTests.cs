using Engine.Backends;
using Engine.Core;
using Engine.Proto;
using Engine.Tests.Support;
using NUnit.Framework;

namespace Engine.Tests.Layers.Utility;

/// <summary>The utility layers' device code against their host code (<see cref="DeviceLayerCheck"/>).</summary>
[TestFixtureSource(typeof(DeviceLayerCheck), nameof(DeviceLayerCheck.BackendNames))]
public class UtilityDeviceTests(string backend)
{
    private static LayerParameter L(string prototxt) => TestData.Layer(prototxt);

    private void Check(string prototxt, int[][] shapes, DeviceLayerCheck.Options? options = null) =>
        DeviceLayerCheck.Compare(backend, L(prototxt), shapes, options);

    /// <summary>Values on a coarse grid (−1, −0.5, 0, 0.5, 1), so that ties occur.</summary>
    private static float[] Coarse(int bottom, int count)
    {
        var rng = new Rng((ulong)(77 + bottom));
        var v = new float[count];
        for (int i = 0; i < count; i++) v[i] = (int)(rng.NextFloat() * 5) * 0.5f - 1f;
        return v;
    }

    /// <summary>Integers in [0, n) (indices for BatchReindex and Embed), with repeats.</summary>
    private static float[] Integers(int count, int n, ulong seed)
    {
        var rng = new Rng(seed);
        var v = new float[count];
        for (int i = 0; i < count; i++) v[i] = Math.Min((int)(rng.NextFloat() * n), n - 1);
        return v;
    }

    // ---------------------------------------------------------------- Split, Flatten, Reshape

    [TestCase(1)]
    [TestCase(2)]
    [TestCase(3)]
    public void Split(int tops) =>
        Check("name: 's' type: 'Split'", [[2, 3, 4]], new() { Tops = tops });

    [TestCase("")]
    [TestCase("flatten_param { axis: 2 }")]
    [TestCase("flatten_param { axis: 0 end_axis: 1 }")]
    [TestCase("flatten_param { axis: -3 end_axis: -2 }")]
    public void Flatten(string param) =>
        Check($"name: 'f' type: 'Flatten' {param}", [[2, 3, 4, 5]]);

    [TestCase("reshape_param { shape { dim: 0 dim: -1 } }")]
    [TestCase("reshape_param { shape { dim: 6 dim: 4 dim: 5 } }")]
    [TestCase("reshape_param { axis: 1 num_axes: 2 shape { dim: 12 } }")]
    public void Reshape(string param) =>
        Check($"name: 'r' type: 'Reshape' {param}", [[2, 3, 4, 5]]);

    /// <summary>Layers whose top shares the bottom's memory: the top's device buffer is the bottom's (no copy), in both directions.</summary>
    [TestCase("name: 'f' type: 'Flatten'", 1)]
    [TestCase("name: 'r' type: 'Reshape' reshape_param { shape { dim: -1 } }", 1)]
    [TestCase("name: 's' type: 'Split'", 2)]
    [TestCase("name: 'c' type: 'Concat'", 1)]
    [TestCase("name: 'sl' type: 'Slice'", 1)]
    public void SharingLayersUseTheBottomsDeviceBuffer(string prototxt, int tops)
    {
        var b = DeviceLayerCheck.Backend(backend);
        var layer = LayerRegistry.Create(L(prototxt));
        var bottom = new Blob("x", 2, 3, 4);
        var top = Enumerable.Range(0, tops).Select(i => new Blob($"t{i}")).ToArray();
        layer.SetUp([bottom], top);
        var values = DeviceLayerCheck.Uniform(new Rng(5), 24);
        values.CopyTo(bottom.Data);
        layer.ForwardOn(b, [bottom], top);
        var x = bottom.DataOn(b);
        foreach (var t in top)
        {
            var y = t.DataOn(b);
            Assert.That(y.Buffer, Is.SameAs(x.Buffer), "top data on the bottom's buffer");
            Assert.That((y.Offset, y.Count), Is.EqualTo((x.Offset, x.Count)));
            Assert.That(t.ConstData.ToArray(), Is.EqualTo(values));
        }
        // A device write through the top is the bottom's.
        b.Fill(top[0].MutableDataOn(b), 3f);
        Assert.That(bottom.ConstData.ToArray(), Is.All.EqualTo(3f));
    }

    // ---------------------------------------------------------------- Concat, Slice

    [TestCase(0)]
    [TestCase(1)]
    [TestCase(2)]
    [TestCase(-1)]
    public void ConcatThreeBottoms(int axis)
    {
        int[] Shape(int along) { var s = new[] { 2, 3, 4, 5 }; s[axis < 0 ? axis + 4 : axis] = along; return s; }
        Check($"name: 'c' type: 'Concat' concat_param {{ axis: {axis} }}", [Shape(2), Shape(1), Shape(3)]);
    }

    [Test]
    public void ConcatPropagateDownForSomeBottoms() =>
        Check("name: 'c' type: 'Concat'", [[2, 3, 4], [2, 2, 4], [2, 5, 4]], new() { PropagateDown = [true, false, true] });

    [Test]
    public void ConcatLegacyConcatDim() =>
        Check("name: 'c' type: 'Concat' concat_param { concat_dim: 2 }", [[2, 3, 1, 5], [2, 3, 4, 5]]);

    [Test]
    public void ConcatIntoSeveralTops() =>
        Check("name: 'c' type: 'Concat'", [[2, 1, 3], [2, 2, 3], [2, 3, 3], [2, 1, 3]], new() { Tops = 2 });

    [Test]
    public void ConcatOneBottom() => Check("name: 'c' type: 'Concat'", [[2, 3, 4]]);

    [TestCase(0, "", 2)]
    [TestCase(1, "slice_point: 1 slice_point: 3", 3)]
    [TestCase(2, "slice_point: 2", 2)]
    [TestCase(-1, "", 5)]
    [TestCase(1, "", 1)]
    public void Slice(int axis, string points, int tops) =>
        Check($"name: 'sl' type: 'Slice' slice_param {{ axis: {axis} {points} }}", [[4, 6, 4, 5]], new() { Tops = tops });

    [Test]
    public void SliceWithoutGradient() =>
        Check("name: 'sl' type: 'Slice' slice_param { axis: 1 }", [[2, 6, 3]], new() { Tops = 3, PropagateDown = [false] });

    // ---------------------------------------------------------------- Eltwise

    [TestCase("operation: SUM", 2)]
    [TestCase("operation: SUM coeff: 0.5 coeff: -1 coeff: 2", 3)]
    [TestCase("operation: SUM coeff: 1 coeff: 1 coeff: -3", 3)]
    [TestCase("operation: PROD", 3)]
    [TestCase("operation: PROD", 2)]
    [TestCase("operation: PROD stable_prod_grad: false", 3)]
    [TestCase("operation: MAX", 2)]
    [TestCase("operation: MAX", 3)]
    public void Eltwise(string param, int bottoms)
    {
        var shapes = Enumerable.Repeat(new[] { 2, 3, 4, 5 }, bottoms).ToArray();
        // The unstable PROD gradient divides by x: keep it away from 0.
        var range = param.Contains("stable_prod_grad") ? (0.5f, 2f) : (-1f, 1f);
        Check($"name: 'e' type: 'Eltwise' eltwise_param {{ {param} }}", shapes, new() { Range = range });
    }

    [TestCase(2)]
    [TestCase(3)]
    [TestCase(4)]
    public void EltwiseMaxTies(int bottoms) =>
        Check("name: 'e' type: 'Eltwise' eltwise_param { operation: MAX }", Enumerable.Repeat(new[] { 3, 7, 5 }, bottoms).ToArray(),
            new() { Input = Coarse });

    [TestCase("operation: SUM coeff: 2 coeff: -1 coeff: 0.5")]
    [TestCase("operation: PROD")]
    [TestCase("operation: MAX")]
    public void EltwisePropagateDownForSomeBottoms(string param) =>
        Check($"name: 'e' type: 'Eltwise' eltwise_param {{ {param} }}", [[2, 3, 5], [2, 3, 5], [2, 3, 5]],
            new() { PropagateDown = [true, false, true] });

    // ---------------------------------------------------------------- Tile, Crop

    [TestCase(0, 2)]
    [TestCase(1, 3)]
    [TestCase(2, 1)]
    [TestCase(-1, 4)]
    public void Tile(int axis, int tiles) =>
        Check($"name: 't' type: 'Tile' tile_param {{ axis: {axis} tiles: {tiles} }}", [[2, 3, 4, 5]]);

    [Test]
    public void TileWithoutGradient() =>
        Check("name: 't' type: 'Tile' tile_param { tiles: 2 }", [[2, 3]], new() { PropagateDown = [false] });

    [TestCase("", new[] { 2, 3, 8, 9 }, new[] { 2, 3, 5, 4 })]
    [TestCase("crop_param { offset: 2 }", new[] { 2, 3, 8, 9 }, new[] { 2, 3, 5, 4 })]
    [TestCase("crop_param { offset: 3 offset: 1 }", new[] { 2, 3, 8, 9 }, new[] { 2, 3, 5, 4 })]
    [TestCase("crop_param { axis: 1 offset: 1 offset: 2 offset: 3 }", new[] { 2, 5, 8, 9 }, new[] { 2, 3, 5, 4 })]
    [TestCase("crop_param { axis: 0 offset: 1 offset: 0 offset: 2 offset: 1 }", new[] { 3, 4, 6, 7 }, new[] { 2, 3, 4, 5 })]
    [TestCase("crop_param { axis: -1 offset: 4 }", new[] { 2, 3, 4, 9 }, new[] { 2, 3, 4, 5 })]
    [TestCase("crop_param { axis: 1 offset: 0 offset: 2 offset: 0 }", new[] { 2, 3, 8, 9 }, new[] { 2, 3, 5, 9 })]
    [TestCase("crop_param { axis: 1 offset: 1 }", new[] { 2, 3, 4, 5, 6 }, new[] { 2, 2, 3, 4, 5 })]
    public void Crop(string param, int[] data, int[] reference) =>
        Check($"name: 'cr' type: 'Crop' {param}", [data, reference], new() { PropagateDown = [true, false] });

    [Test]
    public void CropWithoutGradient() =>
        Check("name: 'cr' type: 'Crop' crop_param { offset: 1 }", [[2, 3, 6, 6], [2, 3, 4, 4]], new() { PropagateDown = [false, false] });

    // ---------------------------------------------------------------- Reduction, ArgMax

    [TestCase("SUM", 0, 1f)]
    [TestCase("SUM", 1, -2f)]
    [TestCase("ASUM", 0, 1f)]
    [TestCase("ASUM", 2, 0.5f)]
    [TestCase("SUMSQ", 1, 1f)]
    [TestCase("SUMSQ", -1, 3f)]
    [TestCase("MEAN", 0, 1f)]
    [TestCase("MEAN", 1, 2f)]
    [TestCase("MEAN", -1, -0.5f)]
    [TestCase("SUM", 3, 1f)]
    public void Reduction(string op, int axis, float coeff) =>
        Check($"name: 'red' type: 'Reduction' reduction_param {{ operation: {op} axis: {axis} coeff: {coeff} }}", [[3, 4, 5, 67]]);

    [Test]
    public void ReductionOfALongRow() =>
        Check("name: 'red' type: 'Reduction' reduction_param { operation: SUMSQ }", [[1000, 7]]);

    [Test]
    public void ReductionWithoutGradient() =>
        Check("name: 'red' type: 'Reduction' reduction_param { axis: 1 }", [[3, 4]], new() { PropagateDown = [false] });

    [TestCase("")]
    [TestCase("top_k: 3")]
    [TestCase("out_max_val: true")]
    [TestCase("top_k: 3 out_max_val: true")]
    [TestCase("axis: 1")]
    [TestCase("axis: 1 top_k: 3")]
    [TestCase("axis: 1 top_k: 3 out_max_val: true")]
    [TestCase("axis: -1 top_k: 2 out_max_val: true")]
    [TestCase("axis: 0 top_k: 1")]
    public void ArgMax(string param)
    {
        var p = $"name: 'am' type: 'ArgMax' argmax_param {{ {param} }}";
        Check(p, [[3, 6, 2, 5]], new() { ForwardOnly = true });
        Check(p, [[3, 6, 2, 5]], new() { ForwardOnly = true, Input = Coarse });
    }

    // ---------------------------------------------------------------- gathers: BatchReindex, Embed, Filter

    [Test]
    public void BatchReindex() =>
        Check("name: 'br' type: 'BatchReindex'", [[5, 3, 4], [7]],
            new() { Input = (b, n) => b == 1 ? Integers(n, 5, 11) : DeviceLayerCheck.Uniform(new Rng(12), n), PropagateDown = [true, false] });

    [Test]
    public void BatchReindexWithoutGradient() =>
        Check("name: 'br' type: 'BatchReindex'", [[4, 6], [3]],
            new() { Input = (b, n) => b == 1 ? Integers(n, 4, 13) : DeviceLayerCheck.Uniform(new Rng(14), n), PropagateDown = [false, false] });

    [TestCase(true, new[] { 4, 5 })]
    [TestCase(false, new[] { 4, 5 })]
    [TestCase(true, new[] { 9 })]
    public void Embed(bool bias, int[] shape) =>
        Check("name: 'emb' type: 'Embed' embed_param { num_output: 7 input_dim: 6 bias_term: " + (bias ? "true" : "false") +
              " weight_filler { type: 'uniform' min: -1 max: 1 } bias_filler { type: 'uniform' min: -1 max: 1 } }", [shape],
            new() { Input = (_, n) => Integers(n, 6, 21), PropagateDown = [false] });

    [TestCase(new[] { true, true, false }, 0.5f)]
    [TestCase(new[] { false, true, false }, 0.5f)]
    [TestCase(new[] { true, true, false }, 0f)]
    [TestCase(new[] { true, true, false }, 1f)]
    public void Filter(bool[] propagateDown, float keepFraction) =>
        Check("name: 'fi' type: 'Filter'", [[6, 3, 2], [6, 4], [6, 1]],
            new()
            {
                Tops = 2,
                PropagateDown = propagateDown,
                Input = (b, n) => b == 2
                    ? DeviceLayerCheck.Uniform(new Rng(31), n).Select(v => (v + 1) / 2 < keepFraction ? 1f : 0f).ToArray()
                    : DeviceLayerCheck.Uniform(new Rng((ulong)(32 + b)), n),
            });

    // ---------------------------------------------------------------- Silence, Parameter

    [Test]
    public void Silence() =>
        Check("name: 'si' type: 'Silence'", [[2, 3], [4]], new() { Tops = 0, PropagateDown = [true, false] });

    [Test]
    public void Parameter() =>
        Check("name: 'pa' type: 'Parameter' parameter_param { shape { dim: 3 dim: 4 } }", []);

    // ---------------------------------------------------------------- indices a device cannot check

    [Test]
    public void BadIndicesGiveNaNRowsOnTheDevice()
    {
        var b = DeviceLayerCheck.Backend(backend);
        var layer = LayerRegistry.Create(L("name: 'br' type: 'BatchReindex'"));
        var data = new Blob("x", 3, 2);
        var index = new Blob("i", 4);
        var top = new Blob("t");
        layer.SetUp([data, index], [top]);
        new float[] { 1, 2, 3, 4, 5, 6 }.CopyTo(data.Data);
        new float[] { 2, -1, 1.5f, 3 }.CopyTo(index.Data);
        layer.ForwardOn(b, [data, index], [top]);
        var y = top.ConstData.ToArray();
        Assert.That(y[..2], Is.EqualTo(new float[] { 5, 6 }));
        Assert.That(y[2..], Is.All.NaN, "−1, 1.5 and 3 are not rows of a 3-item bottom");
        top.Diff.Fill(1f);
        layer.BackwardOn(b, [top], [true, false], [data, index]);
        Assert.That(data.ConstDiff.ToArray(), Is.EqualTo(new float[] { 0, 0, 0, 0, 1, 1 }), "only the valid index gets a gradient");
    }
}
