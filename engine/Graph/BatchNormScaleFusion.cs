using Engine.Layers;

namespace Engine.Graph;

/// <summary>
/// Pairs each BatchNorm with the Scale that runs right after it, in place on its top, with one
/// value of s per channel (the BatchNorm → Scale of every ResNet). On the CPU the pair then runs
/// as one: the BatchNorm's forward writes s·x̂ + b and the Scale's forward does nothing; the
/// Scale's backward takes only its parameter gradients (Σdy, Σdy·x̂) and the BatchNorm's writes dx
/// with s folded in. Adjacent layers only, so no other layer can read the blob between them.
/// While the net prints debug_info the pairs run unfused, so each layer's printed values are its own.
/// </summary>
internal static class BatchNormScaleFusion
{
    public static List<ScaleLayer> Apply(Net net)
    {
        var paired = new List<ScaleLayer>();
        for (int i = 0; i + 1 < net.Layers.Count; i++)
        {
            if (net.Layers[i] is not BatchNormLayer bn || net.Layers[i + 1] is not ScaleLayer scale) continue;
            var bnTops = net.Tops[i];
            var bottoms = net.Bottoms[i + 1];
            var tops = net.Tops[i + 1];
            if (bnTops.Length != 1 || bottoms.Length != 1 || tops.Length != 1 || bottoms[0] != bnTops[0]) continue;
            if (!scale.CanPairWith(bn, bottoms[0], tops[0])) continue;
            bn.FuseWith(scale);
            scale.PairWith(bn);
            scale.FuseEnabled = !net.DebugInfo;
            paired.Add(scale);
        }
        return paired;
    }
}
