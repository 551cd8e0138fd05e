using Engine.Core;
using Engine.Proto;
using Engine.Tests.Support;
using NUnit.Framework;

namespace Engine.Tests.Layers.Vision;

/// <summary>Set-up and comparison helpers shared by the vision layer tests.</summary>
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

    public static Blob Fixture(string name) => TestData.Fixture($"vision/{name}.npy", name);

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
