using System.Numerics.Tensors;
using Engine.Core;

namespace Engine.Graph;

/// <summary>
/// Caffe's debug_info lines (Net::ForwardDebugInfo, BackwardDebugInfo, UpdateDebugInfo and the
/// "All net params" summary of Net::Backward), in Caffe's wording, so logs compare line by line:
/// <code>
///     [Forward] Layer conv1, top blob conv1 data: 0.123
///     [Forward] Layer conv1, param blob 0 data: 0.0621
///     [Backward] Layer conv1, bottom blob data diff: 1.2e-05
///     [Backward] Layer conv1, param blob 0 diff: 0.0004
///     [Backward] All net params (data, diff): L1 norm = (12.3, 0.04); L2 norm = (1.1, 0.002)
///     [Update] Layer conv1, param 0 data: 0.0621; diff: 4e-05
/// </code>
/// Each number is a mean absolute value over the blob. Also finds where values went NaN or
/// infinite, for the solver's divergence message.
/// </summary>
public static class NetDebugInfo
{
    private const string Source = "net.cs";

    /// <summary>After layer <paramref name="layer"/>'s forward: each top's and each param's mean |data|.</summary>
    public static void Forward(Net net, int layer)
    {
        var l = net.Layers[layer];
        foreach (var top in net.Tops[layer])
            Log.Info($"    [Forward] Layer {l.Name}, top blob {top.Name} data: {Log.Num(MeanAbs(top.Data))}", Source);
        for (int p = 0; p < l.Blobs.Count; p++)
            Log.Info($"    [Forward] Layer {l.Name}, param blob {DisplayName(l, p)} data: {Log.Num(MeanAbs(l.Blobs[p].Data))}", Source);
    }

    /// <summary>After layer <paramref name="layer"/>'s backward: each propagated bottom's and each learned param's mean |diff|.</summary>
    public static void Backward(Net net, int layer)
    {
        var l = net.Layers[layer];
        var bottoms = net.Bottoms[layer];
        for (int b = 0; b < bottoms.Length; b++)
        {
            if (!net.BottomNeedBackward[layer][b]) continue;
            Log.Info($"    [Backward] Layer {l.Name}, bottom blob {bottoms[b].Name} diff: {Log.Num(MeanAbs(bottoms[b].Diff))}", Source);
        }
        for (int p = 0; p < l.Blobs.Count; p++)
        {
            if (p >= l.ParamPropagateDown.Length || !l.ParamPropagateDown[p]) continue;
            Log.Info($"    [Backward] Layer {l.Name}, param blob {p} diff: {Log.Num(MeanAbs(l.Blobs[p].Diff))}", Source);
        }
    }

    /// <summary>After a whole backward pass: L1 and L2 norms of all learnable data and diffs.</summary>
    public static void AllParams(Net net)
    {
        double asumData = 0, asumDiff = 0, sumsqData = 0, sumsqDiff = 0;
        foreach (var p in net.LearnableParams)
        {
            asumData += TensorPrimitives.SumOfMagnitudes<float>(p.Blob.Data);
            asumDiff += TensorPrimitives.SumOfMagnitudes<float>(p.Blob.Diff);
            sumsqData += TensorPrimitives.SumOfSquares<float>(p.Blob.Data);
            sumsqDiff += TensorPrimitives.SumOfSquares<float>(p.Blob.Diff);
        }
        Log.Info($"    [Backward] All net params (data, diff): L1 norm = ({Log.Num(asumData)}, {Log.Num(asumDiff)}); " +
                 $"L2 norm = ({Log.Num(Math.Sqrt(sumsqData))}, {Log.Num(Math.Sqrt(sumsqDiff))})", Source);
    }

    /// <summary>
    /// Before the update is subtracted: each parameter's mean |data| and mean |diff| (the step).
    /// A parameter shared from another layer names its owner, as Caffe does.
    /// </summary>
    public static void Update(Net net)
    {
        var owners = new HashSet<object>(net.LearnableParams.Select(p => p.Blob), ReferenceEqualityComparer.Instance);
        for (int li = 0; li < net.Layers.Count; li++)
        {
            var l = net.Layers[li];
            for (int p = 0; p < l.Blobs.Count; p++)
            {
                var blob = l.Blobs[p];
                if (owners.Contains(blob))
                {
                    Log.Info($"    [Update] Layer {l.Name}, param {DisplayName(l, p)} data: {Log.Num(MeanAbs(blob.Data))}; diff: {Log.Num(MeanAbs(blob.Diff))}", Source);
                    continue;
                }
                var owner = OwnerOf(net, l, p);
                if (owner == null) continue;
                Log.Info($"    [Update] Layer {l.Name}, param blob {DisplayName(l, p)} (owned by layer {owner.Layer.Name}, param {DisplayName(owner.Layer, owner.Index)}) diff: {Log.Num(MeanAbs(blob.Diff))}", Source);
            }
        }
    }

    /// <summary>True when no learnable parameter's diff holds NaN or an infinity.</summary>
    public static bool ParamDiffsFinite(Net net)
    {
        var ps = net.LearnableParams;
        for (int i = 0; i < ps.Count; i++) // indexed: runs every iteration, and a foreach over the interface allocates
            if (!AllFinite(ps[i].Blob.Diff)) return false;
        return true;
    }

    /// <summary>
    /// Where values first went non-finite: the first layer in forward order with a NaN or infinite
    /// top, else the first in backward order with such a bottom or param diff; null when all are finite.
    /// </summary>
    public static string? FirstNonFinite(Net net)
    {
        for (int i = 0; i < net.Layers.Count; i++)
            foreach (var top in net.Tops[i])
                if (!AllFinite(top.Data)) return $"layer \"{net.Layers[i].Name}\" ({net.Layers[i].Type}), top blob \"{top.Name}\" data (forward)";
        for (int i = net.Layers.Count - 1; i >= 0; i--)
        {
            if (!net.LayerNeedBackward[i]) continue;
            var l = net.Layers[i];
            for (int b = 0; b < net.Bottoms[i].Length; b++)
                if (net.BottomNeedBackward[i][b] && !AllFinite(net.Bottoms[i][b].Diff))
                    return $"layer \"{l.Name}\" ({l.Type}), bottom blob \"{net.Bottoms[i][b].Name}\" diff (backward)";
            for (int p = 0; p < l.Blobs.Count; p++)
                if (!AllFinite(l.Blobs[p].Diff)) return $"layer \"{l.Name}\" ({l.Type}), param blob {p} diff (backward)";
        }
        return null;
    }

    private static bool AllFinite(ReadOnlySpan<float> x) => x.Length == 0 || float.IsFinite(TensorPrimitives.MaxMagnitude(x));

    private static double MeanAbs(ReadOnlySpan<float> x) => x.Length == 0 ? 0 : TensorPrimitives.SumOfMagnitudes(x) / x.Length;

    /// <summary>Caffe's param_display_names_: the ParamSpec name when given, else the index.</summary>
    private static string DisplayName(Layer layer, int p) =>
        p < layer.Param.Param.Count && layer.Param.Param[p].Name.Length > 0
            ? layer.Param.Param[p].Name
            : p.ToString(System.Globalization.CultureInfo.InvariantCulture);

    private static Net.LearnableParam? OwnerOf(Net net, Layer layer, int p)
    {
        if (p >= layer.Param.Param.Count || layer.Param.Param[p].Name.Length == 0) return null;
        var name = layer.Param.Param[p].Name;
        return net.LearnableParams.FirstOrDefault(o => o.Index < o.Layer.Param.Param.Count && o.Layer.Param.Param[o.Index].Name == name);
    }
}
