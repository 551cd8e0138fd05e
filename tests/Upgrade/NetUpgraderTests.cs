using Engine.Proto;
using Engine.Tests.Text;
using Engine.Text;
using Engine.Upgrade;
using Google.Protobuf;
using Google.Protobuf.Reflection;
using NUnit.Framework;

namespace Engine.Tests.Upgrade;

[TestFixture]
public class NetUpgraderTests
{
    private static NetParameter Net(string text) => ProtoText.Parse<NetParameter>(text);

    private static NetParameter Upgrade(string text) => NetUpgrader.Upgrade(Net(text), "test.prototxt");

    // ---------------------------------------------------------------- V1 → current

    /// <summary>A V1 net with per-blob settings, checked against the same net written by hand in the current format.</summary>
    private const string V1Snippet = """
        name: "v1"
        layers {
          name: "conv1"
          type: CONVOLUTION
          bottom: "data"
          top: "conv1"
          blobs_lr: 1
          blobs_lr: 2
          weight_decay: 1
          weight_decay: 0
          param: "conv1_w"
          blob_share_mode: PERMISSIVE
          include { phase: TRAIN }
          loss_weight: 0.5
          convolution_param {
            num_output: 96
            kernel_size: 11
            stride: 4
            weight_filler { type: "gaussian" std: 0.01 }
            bias_filler { type: "constant" value: 0 }
          }
        }
        layers {
          name: "fc"
          type: INNER_PRODUCT
          bottom: "conv1"
          top: "fc"
          weight_decay: 250
          inner_product_param { num_output: 10 }
          exclude { stage: "deploy" }
        }
        layers {
          name: "loss"
          type: SOFTMAX_LOSS
          bottom: "fc"
          bottom: "label"
          top: "loss"
          loss_param { ignore_label: 255 }
        }
        """;

    [Test]
    public void V1SnippetFieldByField()
    {
        var net = Upgrade(V1Snippet);
        Assert.That(net.Layers, Is.Empty);
        Assert.That(net.Name, Is.EqualTo("v1"));
        Assert.That(net.Layer, Has.Count.EqualTo(3));

        var conv = net.Layer[0];
        Assert.That(conv.Name, Is.EqualTo("conv1"));
        Assert.That(conv.Type, Is.EqualTo("Convolution"));
        Assert.That(conv.Bottom, Is.EqualTo(new[] { "data" }));
        Assert.That(conv.Top, Is.EqualTo(new[] { "conv1" }));
        Assert.That(conv.Param, Has.Count.EqualTo(2));
        Assert.That(conv.Param[0].LrMult, Is.EqualTo(1f));
        Assert.That(conv.Param[0].DecayMult, Is.EqualTo(1f));
        Assert.That(conv.Param[0].Name, Is.EqualTo("conv1_w"));
        Assert.That(conv.Param[0].ShareMode, Is.EqualTo(ParamSpec.Types.DimCheckMode.Permissive));
        Assert.That(conv.Param[1].LrMult, Is.EqualTo(2f));
        Assert.That(conv.Param[1].HasDecayMult, Is.True);
        Assert.That(conv.Param[1].DecayMult, Is.EqualTo(0f));
        Assert.That(conv.Param[1].HasName, Is.False);
        Assert.That(conv.Param[1].HasShareMode, Is.False);
        Assert.That(conv.Include.Single().Phase, Is.EqualTo(Phase.Train));
        Assert.That(conv.LossWeight, Is.EqualTo(new[] { 0.5f }));
        Assert.That(conv.ConvolutionParam.NumOutput, Is.EqualTo(96u));
        Assert.That(conv.ConvolutionParam.KernelSize, Is.EqualTo(new uint[] { 11 }));
        Assert.That(conv.ConvolutionParam.Stride, Is.EqualTo(new uint[] { 4 }));
        Assert.That(conv.ConvolutionParam.WeightFiller.Type, Is.EqualTo("gaussian"));
        Assert.That(conv.ConvolutionParam.WeightFiller.Std, Is.EqualTo(0.01f));
        Assert.That(conv.ConvolutionParam.BiasFiller.HasValue, Is.True);

        var fc = net.Layer[1];
        Assert.That(fc.Type, Is.EqualTo("InnerProduct"));
        Assert.That(fc.Param, Has.Count.EqualTo(1));
        Assert.That(fc.Param[0].HasLrMult, Is.False);
        Assert.That(fc.Param[0].DecayMult, Is.EqualTo(250f));
        Assert.That(fc.Exclude.Single().Stage, Is.EqualTo(new[] { "deploy" }));
        Assert.That(fc.InnerProductParam.NumOutput, Is.EqualTo(10u));

        var loss = net.Layer[2];
        Assert.That(loss.Type, Is.EqualTo("SoftmaxWithLoss"));
        Assert.That(loss.Bottom, Is.EqualTo(new[] { "fc", "label" }));
        Assert.That(loss.Param, Is.Empty);
        Assert.That(loss.LossParam.IgnoreLabel, Is.EqualTo(255));
    }

    [Test]
    public void V1SnippetEqualsTheSameNetWrittenInTheCurrentFormat()
    {
        var expected = Net("""
            name: "v1"
            layer {
              name: "conv1" type: "Convolution" bottom: "data" top: "conv1"
              loss_weight: 0.5
              param { name: "conv1_w" share_mode: PERMISSIVE lr_mult: 1 decay_mult: 1 }
              param { lr_mult: 2 decay_mult: 0 }
              include { phase: TRAIN }
              convolution_param {
                num_output: 96 kernel_size: 11 stride: 4
                weight_filler { type: "gaussian" std: 0.01 }
                bias_filler { type: "constant" value: 0 }
              }
            }
            layer {
              name: "fc" type: "InnerProduct" bottom: "conv1" top: "fc"
              param { decay_mult: 250 }
              exclude { stage: "deploy" }
              inner_product_param { num_output: 10 }
            }
            layer {
              name: "loss" type: "SoftmaxWithLoss" bottom: "fc" bottom: "label" top: "loss"
              loss_param { ignore_label: 255 }
            }
            """);
        Assert.That(Upgrade(V1Snippet), Is.EqualTo(expected));
    }

    private static readonly Dictionary<string, string> ExpectedTypes = new()
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

    [Test]
    public void EveryV1TypeHasItsTypeString()
    {
        var values = V1LayerParameter.Descriptor.FindFieldByName("type").EnumType.Values.Where(v => v.Name != "NONE").ToList();
        Assert.That(values.Select(v => v.Name), Is.EquivalentTo(ExpectedTypes.Keys));
        foreach (var v in values)
        {
            var net = Upgrade($"layers {{ name: \"l\" type: {v.Name} }}");
            Assert.That(net.Layer.Single().Type, Is.EqualTo(ExpectedTypes[v.Name]), v.Name);
        }
    }

    [Test]
    public void V1TypeNoneOrUnsetLeavesTheTypeUnset()
    {
        var net = Upgrade("layers { name: \"a\" type: NONE } layers { name: \"b\" }");
        Assert.That(net.Layer.Select(l => l.HasType), Is.EqualTo(new[] { false, false }));
    }

    [Test]
    public void EveryV1ParamMessageIsCarriedOver()
    {
        var v1 = new V1LayerParameter { Name = "all", Type = V1LayerParameter.Types.LayerType.Convolution };
        var messageFields = V1LayerParameter.Descriptor.Fields.InDeclarationOrder()
            .Where(f => f.FieldType == FieldType.Message && !f.IsRepeated && f.Name != "layer").ToList();
        foreach (var f in messageFields)
        {
            var m = (IMessage)Activator.CreateInstance(f.MessageType.ClrType)!;
            f.Accessor.SetValue(v1, m);
        }
        var net = new NetParameter();
        net.Layers.Add(v1);
        var layer = NetUpgrader.Upgrade(net, "x").Layer.Single();
        Assert.That(messageFields, Has.Count.GreaterThanOrEqualTo(30));
        foreach (var f in messageFields)
        {
            var twin = LayerParameter.Descriptor.FindFieldByName(f.Name);
            Assert.That(twin, Is.Not.Null, f.Name);
            Assert.That(twin.Accessor.HasValue(layer), Is.True, f.Name);
        }
    }

    [Test]
    public void V1BlobsAreKept()
    {
        var net = Net("layers { name: \"ip\" type: INNER_PRODUCT blobs { num: 1 channels: 1 height: 2 width: 3 data: [1, 2, 3, 4, 5, 6] } blobs { data: 0.5 } }");
        var up = NetUpgrader.Upgrade(net, "x");
        Assert.That(up.Layer[0].Blobs, Has.Count.EqualTo(2));
        Assert.That(up.Layer[0].Blobs[0].Width, Is.EqualTo(3));
        Assert.That(up.Layer[0].Blobs[0].Data, Is.EqualTo(new[] { 1f, 2, 3, 4, 5, 6 }));
        Assert.That(up.Layer[0].Blobs[1], Is.SameAs(net.Layers[0].Blobs[1]), "weights are shared, not copied");
    }

    [Test]
    public void UpgradeLeavesItsArgumentUnchanged()
    {
        var net = Net(V1Snippet + "\ninput: \"data\" input_dim: [1, 3, 8, 8]");
        var before = net.Clone();
        NetUpgrader.Upgrade(net, "x");
        Assert.That(net, Is.EqualTo(before));
    }

    [Test]
    public void V0NetIsRefused()
    {
        var e = Assert.Throws<EngineException>(() => Upgrade("layers { layer { name: \"conv1\" type: \"conv\" num_output: 96 } bottom: \"data\" top: \"conv1\" }"))!;
        Assert.That(e.Message, Is.EqualTo(
            "test.prototxt: V0 (pre-2014) layer format is not supported; upgrade with an older Caffe's upgrade_net_proto_text"));
    }

    [Test]
    public void MixingLayerAndLayersIsRefused()
    {
        var e = Assert.Throws<EngineException>(() => Upgrade("layer { name: \"a\" type: \"ReLU\" } layers { name: \"b\" type: RELU }"))!;
        Assert.That(e.Message, Does.StartWith("test.prototxt: "));
        Assert.That(e.Message, Does.Contain("'layer'").And.Contain("'layers'"));
    }

    // ---------------------------------------------------------------- shared Caffe files

    [Test]
    public void Vgg16DeployFromV1()
    {
        var path = SharedCaffeFiles.Get("models/VGG_ILSVRC_16_layers/VGG_ILSVRC_16_layers_deploy.prototxt");
        var raw = ProtoText.ParseFile<NetParameter>(path);
        Assert.That(raw.Layers, Has.Count.EqualTo(39));
        Assert.That(NetUpgrader.NeedsUpgrade(raw), Is.True);

        var net = NetFiles.ReadNet(path);
        Assert.That(NetUpgrader.NeedsUpgrade(net), Is.False);
        Assert.That(net.Name, Is.EqualTo("VGG_ILSVRC_16_layers"));
        Assert.That(net.Layers, Is.Empty);
        Assert.That(net.Input, Is.Empty);
        Assert.That(net.InputDim, Is.Empty);
        Assert.That(net.Layer, Has.Count.EqualTo(40));

        var input = net.Layer[0];
        Assert.That(input.Name, Is.EqualTo("input"));
        Assert.That(input.Type, Is.EqualTo("Input"));
        Assert.That(input.Top, Is.EqualTo(new[] { "data" }));
        Assert.That(input.InputParam.Shape.Single().Dim, Is.EqualTo(new long[] { 10, 3, 224, 224 }));

        var counts = net.Layer.Skip(1).GroupBy(l => l.Type).ToDictionary(g => g.Key, g => g.Count());
        Assert.That(counts, Is.EquivalentTo(new Dictionary<string, int>
        {
            ["Convolution"] = 13,
            ["ReLU"] = 15,
            ["Pooling"] = 5,
            ["InnerProduct"] = 3,
            ["Dropout"] = 2,
            ["Softmax"] = 1,
        }));
        Assert.That(net.Layer.Take(4).Select(l => l.Type), Is.EqualTo(new[] { "Input", "Convolution", "ReLU", "Convolution" }));
        Assert.That(net.Layer[^1].Name, Is.EqualTo("prob"));
        Assert.That(net.Layer[1].Name, Is.EqualTo("conv1_1"));
        Assert.That(net.Layer[1].ConvolutionParam.NumOutput, Is.EqualTo(64u));
        Assert.That(net.Layer[1].ConvolutionParam.Pad, Is.EqualTo(new uint[] { 1 }));
        Assert.That(net.Layer[1].Bottom, Is.EqualTo(new[] { "data" }));
        var pool = net.Layer.First(l => l.Type == "Pooling");
        Assert.That(pool.PoolingParam.Pool, Is.EqualTo(PoolingParameter.Types.PoolMethod.Max));
        Assert.That(pool.PoolingParam.KernelSize, Is.EqualTo(2u));
        Assert.That(net.Layer.First(l => l.Type == "Dropout").DropoutParam.DropoutRatio, Is.EqualTo(0.5f));
        Assert.That(net.Layer.Where(l => l.Type == "InnerProduct").Select(l => l.InnerProductParam.NumOutput), Is.EqualTo(new uint[] { 4096, 4096, 1000 }));
    }

    [Test]
    public void ResNet50DeployInputBecomesAnInputLayer()
    {
        var path = SharedCaffeFiles.Get("models/ResNet-50/ResNet-50-deploy.prototxt");
        var raw = ProtoText.ParseFile<NetParameter>(path);
        Assert.That(raw.Input, Is.EqualTo(new[] { "data" }));
        Assert.That(raw.InputDim, Is.EqualTo(new[] { 1, 3, 224, 224 }));
        Assert.That(raw.Layer, Has.Count.EqualTo(228));

        var net = NetFiles.ReadNet(path);
        Assert.That(net.Input, Is.Empty);
        Assert.That(net.InputDim, Is.Empty);
        Assert.That(net.InputShape, Is.Empty);
        Assert.That(net.Layer, Has.Count.EqualTo(229));
        var input = net.Layer[0];
        Assert.That(input.Name, Is.EqualTo("input"));
        Assert.That(input.Type, Is.EqualTo("Input"));
        Assert.That(input.Top, Is.EqualTo(new[] { "data" }));
        Assert.That(input.InputParam.Shape.Single().Dim, Is.EqualTo(new long[] { 1, 3, 224, 224 }));
        Assert.That(net.Layer[1].Name, Is.EqualTo("conv1"));
        // Its BatchNorm layers declare no param specs, so the BatchNorm upgrade adds none.
        var bn = net.Layer.Where(l => l.Type == "BatchNorm").ToList();
        Assert.That(bn, Has.Count.EqualTo(53));
        Assert.That(bn.All(l => l.Param.Count == 0 && l.BatchNormParam.UseGlobalStats), Is.True);
        // Everything after the new Input layer is what the file says.
        Assert.That(net.Layer.Skip(1), Is.EqualTo(raw.Layer));
    }

    [Test]
    public void CurrentFormatSharedNetsNeedNoUpgrade()
    {
        foreach (var f in new[] { "examples/mnist/lenet.prototxt", "examples/mnist/lenet_train_test.prototxt", "models/bvlc_googlenet/train_val.prototxt" })
        {
            var net = ProtoText.ParseFile<NetParameter>(SharedCaffeFiles.Get(f));
            Assert.That(NetUpgrader.NeedsUpgrade(net), Is.False, f);
            Assert.That(NetUpgrader.Upgrade(net, f), Is.EqualTo(net), f);
            Assert.That(NetFiles.ReadNet(SharedCaffeFiles.Get(f)), Is.EqualTo(net), f);
        }
    }

    [Test]
    public void ReadNetOfAMissingFile()
    {
        var e = Assert.Throws<EngineException>(() => NetFiles.ReadNet("/no/such/dir/net.prototxt"))!;
        Assert.That(e.Message, Is.EqualTo("/no/such/dir/net.prototxt: no such file"));
    }
}
