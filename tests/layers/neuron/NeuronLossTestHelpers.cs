using Engine.Core;
using Engine.Proto;
using Engine.Tests.Support;
using NUnit.Framework;

namespace Engine.Tests.Layers;

/// <summary>Set-up, fixtures and comparisons shared by the neuron, loss and utility layer tests.</summary>
internal static class NeuronLossTestHelpers
{
    /// <summary>Creates the layer through the registry with fresh tops and sets it up.</summary>
    public static (Layer layer, Blob[] tops) SetUp(LayerParameter param, Blob[] bottoms, int tops = 1)
    {
        var layer = LayerRegistry.Create(param);
        var topBlobs = Enumerable.Range(0, tops).Select(i => new Blob($"top{i}")).ToArray();
        layer.SetUp(bottoms, topBlobs);
        return (layer, topBlobs);
    }

    public static LayerParameter Param(string type, string name, Phase phase = Phase.Train) =>
        new() { Name = name, Type = type, Phase = phase };

    public static Blob Fixture(string name) => TestData.Fixture($"neuron_loss/{name}.npy", name);

    /// <summary>Elementwise |actual − expected| ≤ rel·|expected| + abs.</summary>
    public static void AssertClose(ReadOnlySpan<float> actual, ReadOnlySpan<float> expected, string what, double rel = 1e-5, double abs = 1e-7)
    {
        Assert.That(actual.Length, Is.EqualTo(expected.Length), $"{what}: count");
        for (int i = 0; i < actual.Length; i++)
        {
            double tol = rel * Math.Abs(expected[i]) + abs;
            if (!(Math.Abs(actual[i] - expected[i]) <= tol))
                Assert.Fail($"{what}[{i}]: got {actual[i]:R}, expected {expected[i]:R}");
        }
    }

    /// <summary>Uniform values in [−1, 1) pushed at least <paramref name="gap"/> away from 0.</summary>
    public static Blob AwayFromZero(string name, int[] shape, float gap, ulong seed = 1701)
    {
        var b = TestData.Random(name, shape, seed);
        var d = b.Data;
        for (int i = 0; i < d.Length; i++)
            if (Math.Abs(d[i]) < gap) d[i] = d[i] < 0 ? d[i] - gap : d[i] + gap;
        return b;
    }

    /// <summary>Integer labels in [0, classes) as floats, from a fixed seed.</summary>
    public static Blob Labels(string name, int[] shape, int classes, ulong seed = 1702)
    {
        var b = new Blob(name, shape);
        var rng = new Rng(seed);
        var d = b.Data;
        for (int i = 0; i < d.Length; i++) d[i] = rng.NextInt(classes);
        return b;
    }

    public static bool[] Down(params bool[] flags) => flags;
}
