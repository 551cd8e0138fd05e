using Engine.Core;
using Engine.Proto;
using NUnit.Framework;

namespace Engine.Tests.Support;

/// <summary>
/// Set-up, fixture and comparison helpers shared by the vision layer tests (tests/layers/vision):
/// layers made through the registry, fixtures from tests/fixtures/FOLDER/NAME.npy, index arithmetic
/// for the naive N-D oracles.
/// </summary>
internal static class VisionTestHelpers
{
    /// <summary>Creates the layer through the registry, one top per needed output, and sets it up.</summary>
    public static (Layer layer, Blob[] tops) SetUp(LayerParameter param, Blob[] bottoms, int tops = -1, ulong fillerSeed = 1701)
    {
        var layer = LayerRegistry.Create(param);
        layer.FillerRng = new Rng(fillerSeed);
        if (tops < 0) tops = bottoms.Length;
        var topBlobs = Enumerable.Range(0, tops).Select(i => new Blob($"top{i}")).ToArray();
        layer.SetUp(bottoms, topBlobs);
        layer.ParamPropagateDown = Enumerable.Repeat(true, layer.Blobs.Count).ToArray();
        return (layer, topBlobs);
    }

    /// <summary>Backward with every bottom asked for, after zeroing the parameter gradients.</summary>
    public static void Backward(Layer layer, Blob[] bottoms, Blob[] tops)
    {
        foreach (var b in layer.Blobs) b.Diff.Clear();
        layer.Backward(tops, Enumerable.Repeat(true, bottoms.Length).ToArray(), bottoms);
    }

    /// <summary>tests/fixtures/<paramref name="folder"/>/<paramref name="name"/>.npy as a blob called <paramref name="name"/>.</summary>
    public static Blob Fixture(string name, string folder = "vision") => TestData.Fixture($"{folder}/{name}.npy", name);

    /// <summary>
    /// Checks a layer against fixture case <paramref name="c"/> in tests/fixtures/<paramref name="folder"/>:
    /// sets the layer up on C_x, copies C_w and C_b into its parameter blobs (as many as it has),
    /// runs forward and compares C_y (and C_mask with a second top), then back-propagates C_dy and
    /// compares C_dx and the parameter gradients C_dw, C_db.
    /// </summary>
    public static void CheckFixtureCase(LayerParameter param, string c, string folder = "vision", int tops = 1, double rel = 1e-4)
    {
        Blob F(string part) => Fixture($"{c}_{part}", folder);
        string[] names = ["w", "b"];
        var x = F("x");
        var (layer, topBlobs) = SetUp(param, [x], tops);
        Assert.That(layer.Blobs.Count, Is.LessThanOrEqualTo(names.Length), $"{c}: parameter blobs");
        for (int i = 0; i < layer.Blobs.Count; i++)
        {
            var value = F(names[i]);
            Assert.That(layer.Blobs[i].Shape, Is.EqualTo(value.Shape), $"{c} {names[i]}: shape");
            value.Data.CopyTo(layer.Blobs[i].Data);
        }
        layer.Forward([x], topBlobs);
        AssertClose(topBlobs[0], topBlobs[0].Data, F("y"), $"{c} y", rel);
        if (tops > 1) AssertClose(topBlobs[1], topBlobs[1].Data, F("mask"), $"{c} mask", 0);
        F("dy").Data.CopyTo(topBlobs[0].Diff);
        Backward(layer, [x], topBlobs);
        AssertClose(x, x.Diff, F("dx"), $"{c} dx", rel);
        for (int i = 0; i < layer.Blobs.Count; i++)
            AssertClose(layer.Blobs[i], layer.Blobs[i].Diff, F($"d{names[i]}"), $"{c} d{names[i]}", rel);
    }

    /// <summary>Sets the layer up on <paramref name="bottoms"/> and checks its gradients numerically (step and threshold 1e-2).</summary>
    public static void CheckGradient(LayerParameter param, params Blob[] bottoms)
    {
        var (layer, tops) = SetUp(param, bottoms);
        new GradientChecker(1e-2f, 1e-2f).Check(layer, bottoms, tops);
    }

    /// <summary>The row-major multi-index of <paramref name="flat"/> in an array of extents <paramref name="dims"/>.</summary>
    public static int[] Unravel(int flat, int[] dims)
    {
        var idx = new int[dims.Length];
        for (int d = dims.Length - 1; d >= 0; d--)
        {
            idx[d] = flat % dims[d];
            flat /= dims[d];
        }
        return idx;
    }

    /// <summary>The product of the extents (1 for none).</summary>
    public static int Product(IEnumerable<int> dims) => dims.Aggregate(1, (a, v) => a * v);

    /// <summary>Elementwise |actual − expected| ≤ rel · max(1, |expected|), shapes equal.</summary>
    public static void AssertClose(Blob actual, ReadOnlySpan<float> values, Blob expected, string what, double rel = 1e-4)
    {
        Assert.That(actual.Shape, Is.EqualTo(expected.Shape), $"{what}: shape");
        AssertClose(values, expected.Data, what, rel);
    }

    public static void AssertClose(ReadOnlySpan<float> actual, ReadOnlySpan<float> expected, string what, double rel = 1e-4)
    {
        Assert.That(actual.Length, Is.EqualTo(expected.Length), $"{what}: count");
        for (int i = 0; i < actual.Length; i++)
        {
            double tol = rel * Math.Max(1.0, Math.Abs(expected[i]));
            if (!(Math.Abs(actual[i] - expected[i]) <= tol))
                Assert.Fail($"{what}[{i}]: got {actual[i]}, expected {expected[i]}");
        }
    }

    /// <summary>A blob holding distinct values (a shuffled ramp with spacing 0.05), so max pooling has no near-ties.</summary>
    public static Blob Distinct(string name, int[] shape, ulong seed = 1701)
    {
        var b = new Blob(name, shape);
        var d = b.Data;
        var order = Enumerable.Range(0, d.Length).ToArray();
        new Rng(seed).Shuffle<int>(order);
        for (int i = 0; i < d.Length; i++) d[i] = (order[i] - d.Length / 2f) * 0.05f;
        return b;
    }

    public static FillerParameter Uniform(float lo = -1, float hi = 1) => new() { Type = "uniform", Min = lo, Max = hi };
}
