using Engine.Proto;
using Google.Protobuf;

namespace Engine.Upgrade;

/// <summary>
/// Brings a NetParameter written for an older Caffe to the current format, in Caffe's order
/// (UpgradeNetAsNeeded):
/// <list type="number">
/// <item>V0 nets (nested <c>layers { layer { … } }</c>, before 2014) are refused.</item>
/// <item>scale, mean_file, crop_size and mirror move from data_param / image_data_param /
/// window_data_param into transform_param.</item>
/// <item>V1 <c>layers</c> become <c>layer</c> (enum type → type string; blobs_lr,
/// weight_decay, param names, blob_share_mode → ParamSpecs).</item>
/// <item><c>input</c> with <c>input_dim</c> or <c>input_shape</c> becomes a leading Input layer named "input".</item>
/// <item>BatchNorm param specs get lr_mult 0 and decay_mult 0.</item>
/// </list>
/// Errors name the source (a file path) and are <see cref="EngineException"/>s.
/// </summary>
public static class NetUpgrader
{
    private static readonly string[] TransformFieldNames = ["scale", "mean_file", "crop_size", "mirror"];

    /// <summary>Whether <see cref="Upgrade"/> would change anything (or refuse the net).</summary>
    public static bool NeedsUpgrade(NetParameter net)
    {
        ArgumentNullException.ThrowIfNull(net);
        if (net.Layers.Count > 0) return true;
        if (net.Input.Count > 0 || net.InputDim.Count > 0 || net.InputShape.Count > 0) return true;
        foreach (var layer in net.Layer)
        {
            if (LegacyDataParam(layer.Type, layer) is { } p && HasTransformFields(p)) return true;
            if (layer.Type == "BatchNorm" && layer.Param.Any(s => s.LrMult != 0 || s.DecayMult != 0)) return true;
        }
        return false;
    }

    /// <summary>
    /// The upgraded net, as a new message; <paramref name="net"/> is left unchanged. Weight
    /// blobs are not copied: the result shares the BlobProto objects of <paramref name="net"/>
    /// (a .caffemodel may hold hundreds of MB).
    /// </summary>
    /// <param name="sourceName">Where the net came from (a path), named in errors.</param>
    public static NetParameter Upgrade(NetParameter net, string sourceName)
    {
        ArgumentNullException.ThrowIfNull(net);
        foreach (var v1 in net.Layers)
        {
            if (v1.Layer != null)
                throw new EngineException($"{sourceName}: V0 (pre-2014) layer format is not supported; upgrade with an older Caffe's upgrade_net_proto_text");
        }
        if (net.Layers.Count > 0 && net.Layer.Count > 0)
        {
            throw new EngineException(
                $"{sourceName}: the net mixes 'layer' ({net.Layer.Count}) and V1 'layers' ({net.Layers.Count}) entries; use one format ('layer' is current)");
        }

        var result = CloneSharingBlobs(net);
        UpgradeDataTransformation(result);
        if (result.Layers.Count > 0)
        {
            foreach (var v1 in result.Layers) result.Layer.Add(V1LayerUpgrader.Upgrade(v1));
            result.Layers.Clear();
        }
        UpgradeInput(result, sourceName);
        UpgradeBatchNorm(result);
        return result;
    }

    // ---------------------------------------------------------------- data transformation

    private static void UpgradeDataTransformation(NetParameter net)
    {
        foreach (var v1 in net.Layers)
        {
            string? type = v1.HasType ? V1LayerUpgrader.TypeString(v1.Type) : null;
            if (type == null || LegacyDataParamV1(type, v1) is not { } p || !HasTransformFields(p)) continue;
            MoveTransformFields(p, v1.TransformParam ??= new TransformationParameter());
        }
        foreach (var layer in net.Layer)
        {
            if (LegacyDataParam(layer.Type, layer) is not { } p || !HasTransformFields(p)) continue;
            MoveTransformFields(p, layer.TransformParam ??= new TransformationParameter());
        }
    }

    /// <summary>The data/image_data/window_data param of a layer of that type, if set.</summary>
    private static IMessage? LegacyDataParam(string type, LayerParameter layer) => type switch
    {
        "Data" => layer.DataParam,
        "ImageData" => layer.ImageDataParam,
        "WindowData" => layer.WindowDataParam,
        _ => null,
    };

    private static IMessage? LegacyDataParamV1(string type, V1LayerParameter layer) => type switch
    {
        "Data" => layer.DataParam,
        "ImageData" => layer.ImageDataParam,
        "WindowData" => layer.WindowDataParam,
        _ => null,
    };

    private static bool HasTransformFields(IMessage param) =>
        TransformFieldNames.Any(n => param.Descriptor.FindFieldByName(n).Accessor.HasValue(param));

    /// <summary>
    /// Moves each of scale, mean_file, crop_size, mirror that is set (same names and types in
    /// all four messages) into transform_param, overwriting it there, and clears it at the source.
    /// </summary>
    private static void MoveTransformFields(IMessage param, TransformationParameter transform)
    {
        foreach (var name in TransformFieldNames)
        {
            var from = param.Descriptor.FindFieldByName(name);
            if (!from.Accessor.HasValue(param)) continue;
            TransformationParameter.Descriptor.FindFieldByName(name).Accessor.SetValue(transform, from.Accessor.GetValue(param));
            from.Accessor.Clear(param);
        }
    }

    // ---------------------------------------------------------------- inputs

    private static void UpgradeInput(NetParameter net, string source)
    {
        if (net.Input.Count == 0 && net.InputDim.Count == 0 && net.InputShape.Count == 0) return;
        int n = net.Input.Count;
        if (n == 0)
            throw new EngineException($"{source}: input_dim / input_shape given without any 'input' name");
        if (net.InputDim.Count > 0 && net.InputShape.Count > 0)
            throw new EngineException($"{source}: give the inputs' shapes with either input_shape or input_dim, not both");

        var param = new InputParameter();
        if (net.InputShape.Count > 0)
        {
            if (net.InputShape.Count != n)
                throw new EngineException($"{source}: {n} input(s) but {net.InputShape.Count} input_shape(s); give one input_shape per input");
            param.Shape.AddRange(net.InputShape);
        }
        else if (net.InputDim.Count > 0)
        {
            if (net.InputDim.Count != 4 * n)
                throw new EngineException($"{source}: {n} input(s) need {4 * n} input_dim values (4 per input), got {net.InputDim.Count}");
            for (int i = 0; i < n; i++)
            {
                var shape = new BlobShape();
                for (int j = 0; j < 4; j++) shape.Dim.Add(net.InputDim[4 * i + j]);
                param.Shape.Add(shape);
            }
        }
        else
        {
            throw new EngineException($"{source}: input \"{net.Input[0]}\" has no shape; give input_shape {{ dim: … }} or 4 input_dim values per input");
        }

        var layer = new LayerParameter { Name = "input", Type = "Input", InputParam = param };
        layer.Top.AddRange(net.Input);
        net.Layer.Insert(0, layer);
        net.Input.Clear();
        net.InputDim.Clear();
        net.InputShape.Clear();
    }

    // ---------------------------------------------------------------- BatchNorm

    /// <summary>BatchNorm's blobs are running statistics, never learned: zero every multiplier given.</summary>
    private static void UpgradeBatchNorm(NetParameter net)
    {
        foreach (var layer in net.Layer)
        {
            if (layer.Type != "BatchNorm") continue;
            foreach (var spec in layer.Param)
            {
                spec.LrMult = 0;
                spec.DecayMult = 0;
            }
        }
    }

    // ---------------------------------------------------------------- copying

    /// <summary>A deep copy of the net except the weight blobs, whose objects both nets share.</summary>
    private static NetParameter CloneSharingBlobs(NetParameter net)
    {
        var layerBlobs = net.Layer.Select(l => l.Blobs.ToList()).ToList();
        var v1Blobs = net.Layers.Select(l => l.Blobs.ToList()).ToList();
        foreach (var l in net.Layer) l.Blobs.Clear();
        foreach (var l in net.Layers) l.Blobs.Clear();
        NetParameter copy;
        try
        {
            copy = net.Clone();
        }
        finally
        {
            for (int i = 0; i < net.Layer.Count; i++) net.Layer[i].Blobs.AddRange(layerBlobs[i]);
            for (int i = 0; i < net.Layers.Count; i++) net.Layers[i].Blobs.AddRange(v1Blobs[i]);
        }
        for (int i = 0; i < copy.Layer.Count; i++) copy.Layer[i].Blobs.AddRange(layerBlobs[i]);
        for (int i = 0; i < copy.Layers.Count; i++) copy.Layers[i].Blobs.AddRange(v1Blobs[i]);
        return copy;
    }
}
