using Engine.Proto;
using Engine.Text;
using Engine.Upgrade;
using NUnit.Framework;

namespace Engine.Tests.Upgrade;

/// <summary>Input, BatchNorm and data-transformation upgrades, and NeedsUpgrade.</summary>
[TestFixture]
public class NetUpgraderDetailTests
{
    private static NetParameter Net(string text) => ProtoText.Parse<NetParameter>(text);

    private static NetParameter Upgrade(string text) => NetUpgrader.Upgrade(Net(text), "net.prototxt");

    private static string UpgradeError(string text) => Assert.Throws<EngineException>(() => Upgrade(text))!.Message;

    // ---------------------------------------------------------------- inputs

    [Test]
    public void TwoInputsWithInputDim()
    {
        var net = Upgrade("""
            input: "data" input: "label"
            input_dim: [64, 1, 28, 28, 64, 1, 1, 1]
            layer { name: "ip" type: "InnerProduct" bottom: "data" top: "ip" }
            """);
        Assert.That(net.Layer.Select(l => l.Name), Is.EqualTo(new[] { "input", "ip" }));
        var input = net.Layer[0];
        Assert.That(input.Type, Is.EqualTo("Input"));
        Assert.That(input.Top, Is.EqualTo(new[] { "data", "label" }));
        Assert.That(input.InputParam.Shape.Select(s => s.Dim.ToArray()), Is.EqualTo(new[] { new long[] { 64, 1, 28, 28 }, new long[] { 64, 1, 1, 1 } }));
        Assert.That(net.Input, Is.Empty);
        Assert.That(net.InputDim, Is.Empty);
    }

    [Test]
    public void InputShape()
    {
        var net = Upgrade("""
            input: "data"
            input_shape { dim: [10, 3, 227, 227] }
            layer { name: "relu" type: "ReLU" bottom: "data" top: "data" }
            """);
        Assert.That(net.Layer[0], Is.EqualTo(Net("""
            layer { name: "input" type: "Input" top: "data" input_param { shape { dim: [10, 3, 227, 227] } } }
            """).Layer[0]));
        Assert.That(net.InputShape, Is.Empty);
        Assert.That(net.Layer[1].Name, Is.EqualTo("relu"));
    }

    [Test]
    public void InputShapeOfAnyRank()
    {
        var net = Upgrade("input: \"x\" input_shape { dim: [5, 7] }");
        Assert.That(net.Layer.Single().InputParam.Shape.Single().Dim, Is.EqualTo(new long[] { 5, 7 }));
    }

    [Test]
    public void InputDimNotFourPerInput() =>
        Assert.That(UpgradeError("input: \"data\" input_dim: [1, 3, 224]"),
            Is.EqualTo("net.prototxt: 1 input(s) need 4 input_dim values (4 per input), got 3"));

    [Test]
    public void InputShapeCountMismatch() =>
        Assert.That(UpgradeError("input: \"a\" input: \"b\" input_shape { dim: 1 }"),
            Is.EqualTo("net.prototxt: 2 input(s) but 1 input_shape(s); give one input_shape per input"));

    [Test]
    public void InputWithoutShape() =>
        Assert.That(UpgradeError("input: \"data\""), Does.StartWith("net.prototxt: input \"data\" has no shape"));

    [Test]
    public void ShapeWithoutInput() =>
        Assert.That(UpgradeError("input_dim: [1, 2, 3, 4]"), Does.StartWith("net.prototxt: input_dim / input_shape given without any 'input' name"));

    [Test]
    public void BothInputShapeAndInputDim() =>
        Assert.That(UpgradeError("input: \"a\" input_dim: [1, 2, 3, 4] input_shape { dim: 1 }"), Does.Contain("either input_shape or input_dim"));

    [Test]
    public void V1AndInputTogether()
    {
        var net = Upgrade("input: \"data\" input_dim: [1, 1, 4, 4] layers { name: \"r\" type: RELU bottom: \"data\" top: \"data\" }");
        Assert.That(net.Layer.Select(l => l.Type), Is.EqualTo(new[] { "Input", "ReLU" }));
    }

    // ---------------------------------------------------------------- BatchNorm

    [Test]
    public void BatchNormParamSpecsAreZeroed()
    {
        var net = Upgrade("""
            layer { name: "bn" type: "BatchNorm" param { lr_mult: 1 } param { lr_mult: 1 decay_mult: 5 } param { name: "s" } }
            layer { name: "conv" type: "Convolution" param { lr_mult: 1 } }
            """);
        var bn = net.Layer[0];
        Assert.That(bn.Param, Has.Count.EqualTo(3));
        foreach (var p in bn.Param)
        {
            Assert.That(p.HasLrMult && p.LrMult == 0, Is.True);
            Assert.That(p.HasDecayMult && p.DecayMult == 0, Is.True);
        }
        Assert.That(bn.Param[2].Name, Is.EqualTo("s"));
        Assert.That(net.Layer[1].Param.Single().LrMult, Is.EqualTo(1f));
        Assert.That(net.Layer[1].Param.Single().HasDecayMult, Is.False);
    }

    [Test]
    public void BatchNormWithoutParamSpecsGetsNone()
    {
        var net = Upgrade("layer { name: \"bn\" type: \"BatchNorm\" batch_norm_param { use_global_stats: true } }");
        Assert.That(net.Layer[0].Param, Is.Empty);
    }

    [Test]
    public void NeedsUpgradeForBatchNormOnlyUntilZeroed()
    {
        var net = Net("layer { name: \"bn\" type: \"BatchNorm\" param { lr_mult: 0 } }");
        Assert.That(NetUpgrader.NeedsUpgrade(net), Is.True, "decay_mult defaults to 1");
        Assert.That(NetUpgrader.NeedsUpgrade(NetUpgrader.Upgrade(net, "x")), Is.False);
        Assert.That(NetUpgrader.NeedsUpgrade(Net("layer { type: \"BatchNorm\" param { lr_mult: 0 decay_mult: 0 } }")), Is.False);
    }

    // ---------------------------------------------------------------- data transformation

    [Test]
    public void V1DataParamTransformFieldsMove()
    {
        var net = Upgrade("""
            layers {
              name: "data" type: DATA top: "data" top: "label"
              data_param { source: "train_lmdb" backend: LMDB batch_size: 64 scale: 0.00390625 mean_file: "mean.binaryproto" crop_size: 227 mirror: true }
            }
            """);
        var l = net.Layer.Single();
        Assert.That(l.Type, Is.EqualTo("Data"));
        Assert.That(l.TransformParam.Scale, Is.EqualTo(0.00390625f));
        Assert.That(l.TransformParam.MeanFile, Is.EqualTo("mean.binaryproto"));
        Assert.That(l.TransformParam.CropSize, Is.EqualTo(227u));
        Assert.That(l.TransformParam.HasMirror && l.TransformParam.Mirror, Is.True);
        Assert.That(l.DataParam, Is.EqualTo(ProtoText.Parse<DataParameter>("source: \"train_lmdb\" backend: LMDB batch_size: 64")));
    }

    [Test]
    public void ImageAndWindowDataTransformFieldsMove()
    {
        var net = Upgrade("""
            layers { name: "img" type: IMAGE_DATA image_data_param { source: "list.txt" mirror: false crop_size: 10 } }
            layers { name: "win" type: WINDOW_DATA window_data_param { source: "w.txt" scale: 2 } transform_param { mirror: true } }
            """);
        Assert.That(net.Layer[0].TransformParam, Is.EqualTo(ProtoText.Parse<TransformationParameter>("mirror: false crop_size: 10")));
        Assert.That(net.Layer[0].ImageDataParam, Is.EqualTo(ProtoText.Parse<ImageDataParameter>("source: \"list.txt\"")));
        Assert.That(net.Layer[1].TransformParam, Is.EqualTo(ProtoText.Parse<TransformationParameter>("scale: 2 mirror: true")));
        Assert.That(net.Layer[1].WindowDataParam, Is.EqualTo(ProtoText.Parse<WindowDataParameter>("source: \"w.txt\"")));
    }

    [Test]
    public void CurrentFormatDataLayerTransformFieldsMoveToo()
    {
        var raw = Net("layer { name: \"d\" type: \"Data\" data_param { source: \"s\" scale: 0.5 } transform_param { scale: 9 crop_size: 3 } }");
        Assert.That(NetUpgrader.NeedsUpgrade(raw), Is.True);
        var l = NetUpgrader.Upgrade(raw, "x").Layer.Single();
        Assert.That(l.TransformParam, Is.EqualTo(ProtoText.Parse<TransformationParameter>("scale: 0.5 crop_size: 3")));
        Assert.That(l.DataParam.HasScale, Is.False);
    }

    [Test]
    public void DataLayerWithoutLegacyFieldsIsUntouched()
    {
        var raw = Net("layer { name: \"d\" type: \"Data\" data_param { source: \"s\" batch_size: 4 } }");
        Assert.That(NetUpgrader.NeedsUpgrade(raw), Is.False);
        Assert.That(NetUpgrader.Upgrade(raw, "x").Layer[0].TransformParam, Is.Null);
    }

    [Test]
    public void OtherLayerTypesKeepTheirDataParams()
    {
        // Caffe only moves the fields for the data layer types that read them.
        var net = Upgrade("layers { name: \"x\" type: DUMMY_DATA data_param { scale: 3 } }");
        Assert.That(net.Layer[0].DataParam.Scale, Is.EqualTo(3f));
        Assert.That(net.Layer[0].TransformParam, Is.Null);
    }

    // ---------------------------------------------------------------- NeedsUpgrade

    [TestCase("layers { name: \"a\" type: RELU }", true)]
    [TestCase("input: \"data\" input_dim: [1, 1, 1, 1]", true)]
    [TestCase("input: \"data\" input_shape { dim: 1 }", true)]
    [TestCase("layer { name: \"a\" type: \"BatchNorm\" param { } }", true)]
    [TestCase("layer { name: \"a\" type: \"Data\" data_param { mirror: true } }", true)]
    [TestCase("layer { name: \"a\" type: \"ReLU\" }", false)]
    [TestCase("", false)]
    public void NeedsUpgrade(string text, bool expected)
    {
        Assert.That(NetUpgrader.NeedsUpgrade(Net(text)), Is.EqualTo(expected));
    }
}
