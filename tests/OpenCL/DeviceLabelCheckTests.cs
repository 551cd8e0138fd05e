using Engine.Core;
using Engine.Proto;
using NUnit.Framework;
using static Engine.Tests.Layers.NeuronLossTestHelpers;

namespace Engine.Tests.OpenCL;

/// <summary>
/// Out-of-range labels and indices on a device net: when the host still holds them (a data layer's
/// batch), the device code fails with the host code's own error; when only the device holds them,
/// nothing is downloaded to check them.
/// </summary>
[TestFixture]
[NonParallelizable]
public class DeviceLabelCheckTests
{
    private static LayerParameter Make(string type) => type switch
    {
        "Embed" => new LayerParameter { Name = "embed", Type = "Embed", EmbedParam = new EmbedParameter { NumOutput = 3, InputDim = 5 } },
        "InfogainLoss" => new LayerParameter { Name = "infogain", Type = "InfogainLoss", InfogainLossParam = new InfogainLossParameter() },
        _ => Param(type, type.ToLowerInvariant()),
    };

    /// <summary>The bottoms: scores 4×5 and labels (or, for Embed, indices) with one bad value at index 2.</summary>
    private static Blob[] Bottoms(string type, float bad)
    {
        var labels = new Blob("labels", 4);
        new float[] { 1, 0, bad, 3 }.CopyTo(labels.Data);
        if (type == "Embed") return [labels];
        var scores = new Blob("scores", 4, 5);
        var rng = new Rng(5);
        for (int i = 0; i < scores.Count; i++) scores.Data[i] = rng.NextFloat();
        return type == "InfogainLoss" ? [scores, labels, Identity(5)] : [scores, labels];
    }

    private static Blob Identity(int n)
    {
        var h = new Blob("H", 1, 1, n, n);
        for (int i = 0; i < n; i++) h.Data[i * n + i] = 1;
        return h;
    }

    [TestCase("SoftmaxWithLoss", 5f), TestCase("SoftmaxWithLoss", -1f), TestCase("Accuracy", 7f),
     TestCase("InfogainLoss", 5f), TestCase("Embed", 5f), TestCase("Embed", -2f)]
    public void BadLabelsTheHostHoldsFailAsOnTheHost(string type, float bad)
    {
        var backend = OpenCLTestDevice.Backend;
        // The oracle: the host code's error on the same bottoms.
        var hostBottoms = Bottoms(type, bad);
        var (hostLayer, hostTops) = SetUp(Make(type), hostBottoms);
        var expected = Assert.Throws<EngineException>(() => hostLayer.Forward(hostBottoms, hostTops))!.Message;

        var bottoms = Bottoms(type, bad);
        var (layer, tops) = SetUp(Make(type), bottoms);
        Assert.That(layer.RunsOnDevice, Is.True);
        var e = Assert.Throws<EngineException>(() => layer.ForwardOn(backend, bottoms, tops))!;
        Assert.That(e.Message, Is.EqualTo(expected));
    }

    [TestCase("SoftmaxWithLoss"), TestCase("Accuracy"), TestCase("Embed")]
    public void LabelsOnlyTheDeviceHoldsAreNotDownloaded(string type)
    {
        var backend = OpenCLTestDevice.Backend;
        var bottoms = Bottoms(type, 2);
        var (layer, tops) = SetUp(Make(type), bottoms);
        var labels = type == "Embed" ? bottoms[0] : bottoms[1];
        // Written on the device (as a device layer would): the host copy is stale.
        backend.Upload(new float[] { 1, 0, 2, 3 }, labels.MutableDataOn(backend));
        Assert.That(labels.DataMemory.Head, Is.EqualTo(MemoryHead.AtDevice));
        layer.ForwardOn(backend, bottoms, tops);
        Assert.That(labels.DataMemory.Head, Is.EqualTo(MemoryHead.AtDevice), "the labels were not brought to the host");
    }
}
