using Engine.Proto;
using Google.Protobuf.Reflection;

namespace Engine.Upgrade;

/// <summary>
/// V1 layers (<c>layers { type: CONVOLUTION … }</c>, Caffe before 2015) to LayerParameter
/// (<c>layer { type: "Convolution" … }</c>), as Caffe's UpgradeV1LayerParameter does.
/// </summary>
internal static class V1LayerUpgrader
{
    /// <summary>Every V1 LayerType (by its proto name) and the type string that replaced it.</summary>
    private static readonly Dictionary<string, string> TypeByV1Name = new(StringComparer.Ordinal)
    {
        ["ABSVAL"] = "AbsVal",
        ["ACCURACY"] = "Accuracy",
        ["ARGMAX"] = "ArgMax",
        ["BNLL"] = "BNLL",
        ["CONCAT"] = "Concat",
        ["CONTRASTIVE_LOSS"] = "ContrastiveLoss",
        ["CONVOLUTION"] = "Convolution",
        ["DATA"] = "Data",
        ["DECONVOLUTION"] = "Deconvolution",
        ["DROPOUT"] = "Dropout",
        ["DUMMY_DATA"] = "DummyData",
        ["EUCLIDEAN_LOSS"] = "EuclideanLoss",
        ["ELTWISE"] = "Eltwise",
        ["EXP"] = "Exp",
        ["FLATTEN"] = "Flatten",
        ["HDF5_DATA"] = "HDF5Data",
        ["HDF5_OUTPUT"] = "HDF5Output",
        ["HINGE_LOSS"] = "HingeLoss",
        ["IM2COL"] = "Im2col",
        ["IMAGE_DATA"] = "ImageData",
        ["INFOGAIN_LOSS"] = "InfogainLoss",
        ["INNER_PRODUCT"] = "InnerProduct",
        ["LRN"] = "LRN",
        ["MEMORY_DATA"] = "MemoryData",
        ["MULTINOMIAL_LOGISTIC_LOSS"] = "MultinomialLogisticLoss",
        ["MVN"] = "MVN",
        ["POOLING"] = "Pooling",
        ["POWER"] = "Power",
        ["RELU"] = "ReLU",
        ["SIGMOID"] = "Sigmoid",
        ["SIGMOID_CROSS_ENTROPY_LOSS"] = "SigmoidCrossEntropyLoss",
        ["SILENCE"] = "Silence",
        ["SOFTMAX"] = "Softmax",
        ["SOFTMAX_LOSS"] = "SoftmaxWithLoss",
        ["SPLIT"] = "Split",
        ["SLICE"] = "Slice",
        ["TANH"] = "TanH",
        ["WINDOW_DATA"] = "WindowData",
        ["THRESHOLD"] = "Threshold",
    };

    /// <summary>V1 fields handled one by one; every other V1 field has a same-named twin in LayerParameter.</summary>
    private static readonly HashSet<string> SpecialFields = new(StringComparer.Ordinal)
    {
        "type", "param", "blob_share_mode", "blobs_lr", "weight_decay", "layer",
    };

    private static readonly EnumDescriptor V1Types = V1LayerParameter.Descriptor.FindFieldByName("type").EnumType;

    /// <summary>
    /// The type string for a V1 enum value, e.g. SOFTMAX_LOSS → "SoftmaxWithLoss"; null for NONE
    /// or a number outside the enum.
    /// </summary>
    public static string? TypeString(V1LayerParameter.Types.LayerType type)
    {
        var value = V1Types.FindValueByNumber((int)type);
        return value != null && TypeByV1Name.TryGetValue(value.Name, out var s) ? s : null;
    }

    /// <summary>The V1 enum names that have a type string (all but NONE).</summary>
    internal static IReadOnlyCollection<string> MappedV1Names => TypeByV1Name.Keys;

    /// <summary>
    /// Converts one V1 layer. Messages (blobs, per-type params) are moved, not copied: the V1
    /// layer must not be used afterwards.
    /// </summary>
    public static LayerParameter Upgrade(V1LayerParameter v1)
    {
        var layer = new LayerParameter();
        if (v1.HasType)
        {
            var type = TypeString(v1.Type);
            if (type != null) layer.Type = type;
        }
        CopySameNamedFields(v1, layer);

        // Per-blob settings: the i-th entry of each list goes to the i-th ParamSpec.
        for (int i = 0; i < v1.BlobsLr.Count; i++) Spec(layer, i).LrMult = v1.BlobsLr[i];
        for (int i = 0; i < v1.WeightDecay.Count; i++) Spec(layer, i).DecayMult = v1.WeightDecay[i];
        for (int i = 0; i < v1.Param.Count; i++) Spec(layer, i).Name = v1.Param[i];
        for (int i = 0; i < v1.BlobShareMode.Count; i++)
            Spec(layer, i).ShareMode = (ParamSpec.Types.DimCheckMode)(int)v1.BlobShareMode[i];
        return layer;
    }

    private static ParamSpec Spec(LayerParameter layer, int i)
    {
        while (layer.Param.Count <= i) layer.Param.Add(new ParamSpec());
        return layer.Param[i];
    }

    /// <summary>
    /// name, bottom, top, include, exclude, loss_weight, blobs, transform_param, loss_param and
    /// every per-type *_param: same name and type in both messages, so copied by reflection.
    /// </summary>
    private static void CopySameNamedFields(V1LayerParameter v1, LayerParameter layer)
    {
        foreach (var from in V1LayerParameter.Descriptor.Fields.InDeclarationOrder())
        {
            if (SpecialFields.Contains(from.Name)) continue;
            var to = TwinField(from);
            if (from.IsRepeated)
            {
                var source = (System.Collections.IList)from.Accessor.GetValue(v1);
                var target = (System.Collections.IList)to.Accessor.GetValue(layer);
                foreach (var item in source) target.Add(item);
            }
            else if (from.Accessor.HasValue(v1))
            {
                to.Accessor.SetValue(layer, from.Accessor.GetValue(v1));
            }
        }
    }

    /// <summary>The LayerParameter field matching a V1 field; an engine bug if the protos drifted apart.</summary>
    internal static FieldDescriptor TwinField(FieldDescriptor from)
    {
        var to = LayerParameter.Descriptor.FindFieldByName(from.Name);
        if (to == null || to.FieldType != from.FieldType || to.IsRepeated != from.IsRepeated
            || (from.FieldType == FieldType.Message && to.MessageType != from.MessageType))
        {
            throw new InvalidOperationException($"V1LayerParameter.{from.Name} has no matching LayerParameter field");
        }
        return to;
    }

    /// <summary>The V1 fields copied by name (for tests).</summary>
    internal static IEnumerable<FieldDescriptor> CopiedFields =>
        V1LayerParameter.Descriptor.Fields.InDeclarationOrder().Where(f => !SpecialFields.Contains(f.Name));
}
