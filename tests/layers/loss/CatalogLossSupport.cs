using Engine.Core;
using Engine.Proto;
using Engine.Tests.Support;
using static Engine.Tests.Layers.NeuronLossTestHelpers;

namespace Engine.Tests.Layers.Loss;

/// <summary>Shared helpers of the loss catalog tests.</summary>
internal static class CatalogLossSupport
{
    public static Blob Fix(string name) => TestData.Fixture($"catalog2/{name}.npy", name);

    public static LayerParameter Layer(string type, string extra = "") => TestData.Layer($"name: 'loss' type: '{type}' {extra}");

    /// <summary>Sets up, runs forward and backward with <paramref name="lossWeight"/> (gradients for <paramref name="down"/>); returns the loss.</summary>
    public static float Run(LayerParameter param, Blob[] bottoms, bool[] down, float lossWeight = 1)
    {
        var (layer, top) = SetUp(param, bottoms);
        return Run(layer, top, bottoms, down, lossWeight);
    }

    public static float Run(Layer layer, Blob[] top, Blob[] bottoms, bool[] down, float lossWeight = 1)
    {
        layer.Forward(bottoms, top);
        top[0].Diff[0] = lossWeight;
        for (int i = 0; i < bottoms.Length; i++)
            if (down[i]) bottoms[i].Diff.Fill(float.NaN);
        layer.Backward(top, down, bottoms);
        return top[0].Data[0];
    }

    public static void Check(LayerParameter param, Blob[] bottoms, int[] checkBottoms, float step = 1e-2f)
    {
        var (layer, top) = SetUp(param, bottoms);
        new GradientChecker(step, 1e-2f).Check(layer, bottoms, top, checkBottoms: checkBottoms);
    }

    /// <summary>A copy of a blob (data only).</summary>
    public static Blob Copy(Blob b, string? name = null)
    {
        var c = new Blob(name ?? b.Name, b.Shape.ToArray());
        b.Data.CopyTo(c.Data);
        return c;
    }

    /// <summary>Moves values within <paramref name="gap"/> of a kink at ±<paramref name="kink"/> away from it.</summary>
    public static Blob AwayFromKinks(Blob b, float kink, float gap)
    {
        var d = b.Data;
        for (int i = 0; i < d.Length; i++)
            foreach (var k in new[] { kink, -kink })
                if (Math.Abs(d[i] - k) < gap) d[i] = d[i] < k ? k - gap : k + gap;
        return b;
    }
}
