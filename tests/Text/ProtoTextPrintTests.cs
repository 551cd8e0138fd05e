using Engine.Proto;
using Engine.Text;
using Google.Protobuf;
using NUnit.Framework;

namespace Engine.Tests.Text;

/// <summary>The printer's style, and parse → print → parse on hand-made and real Caffe files.</summary>
[TestFixture]
public class ProtoTextPrintTests
{
    [Test]
    public void CaffeStyle()
    {
        var net = new NetParameter { Name = "LeNet" };
        var conv = new LayerParameter
        {
            Name = "conv1",
            Type = "Convolution",
            ConvolutionParam = new ConvolutionParameter
            {
                NumOutput = 20,
                KernelSize = { 5 },
                WeightFiller = new FillerParameter { Type = "xavier" },
            },
        };
        conv.Bottom.Add("data");
        conv.Top.Add("conv1");
        conv.Param.Add(new ParamSpec { LrMult = 1 });
        conv.Param.Add(new ParamSpec { LrMult = 2, DecayMult = 0 });
        conv.Include.Add(new NetStateRule { Phase = Phase.Train });
        net.Layer.Add(conv);
        net.Layer.Add(new LayerParameter { Name = "pool1", Type = "Pooling", PoolingParam = new PoolingParameter { Pool = PoolingParameter.Types.PoolMethod.Max } });

        const string expected =
            "name: \"LeNet\"\n" +
            "layer {\n" +
            "  name: \"conv1\"\n" +
            "  type: \"Convolution\"\n" +
            "  bottom: \"data\"\n" +
            "  top: \"conv1\"\n" +
            "  param {\n" +
            "    lr_mult: 1\n" +
            "  }\n" +
            "  param {\n" +
            "    lr_mult: 2\n" +
            "    decay_mult: 0\n" +
            "  }\n" +
            "  include {\n" +
            "    phase: TRAIN\n" +
            "  }\n" +
            "  convolution_param {\n" +
            "    num_output: 20\n" +
            "    kernel_size: 5\n" +
            "    weight_filler {\n" +
            "      type: \"xavier\"\n" +
            "    }\n" +
            "  }\n" +
            "}\n" +
            "layer {\n" +
            "  name: \"pool1\"\n" +
            "  type: \"Pooling\"\n" +
            "  pooling_param {\n" +
            "    pool: MAX\n" +
            "  }\n" +
            "}\n";
        Assert.That(ProtoText.Print(net), Is.EqualTo(expected));
    }

    [Test]
    public void EmptyMessagePrintsNothing()
    {
        Assert.That(ProtoText.Print(new LayerParameter()), Is.EqualTo(""));
    }

    [Test]
    public void EmptyNestedMessageIsStillWritten()
    {
        Assert.That(ProtoText.Print(new LayerParameter { InputParam = new InputParameter() }), Is.EqualTo("input_param {\n}\n"));
    }

    [Test]
    public void OnlyFieldsThatAreSetEvenAtTheirDefault()
    {
        var c = new ConvolutionParameter { BiasTerm = true, Group = 1 };
        Assert.That(ProtoText.Print(c), Is.EqualTo("bias_term: true\ngroup: 1\n"));
        Assert.That(ProtoText.Print(new ConvolutionParameter { BiasTerm = false }), Is.EqualTo("bias_term: false\n"));
    }

    [Test]
    public void FieldsInDeclarationOrderNotNumberOrder()
    {
        // In net.proto `layer` (#100) is declared before `layers` (#2), `input` (#3) before `input_dim` (#4)
        // and `input_shape` (#8) between them.
        var net = new NetParameter { Name = "n" };
        net.InputDim.Add(1);
        net.InputShape.Add(new BlobShape { Dim = { 2 } });
        net.Input.Add("data");
        Assert.That(ProtoText.Print(net), Is.EqualTo("name: \"n\"\ninput: \"data\"\ninput_shape {\n  dim: 2\n}\ninput_dim: 1\n"));
    }

    [TestCase(0.01f, "0.01")]
    [TestCase(0.1f, "0.1")]
    [TestCase(1f, "1")]
    [TestCase(-2.5f, "-2.5")]
    [TestCase(0.0005f, "0.0005")]
    [TestCase(1e-8f, "1e-08")]
    [TestCase(1e20f, "1e+20")]
    [TestCase(0.9999f, "0.9999")]
    [TestCase(float.PositiveInfinity, "inf")]
    [TestCase(float.NegativeInfinity, "-inf")]
    [TestCase(float.NaN, "nan")]
    [TestCase(-0f, "-0")]
    public void FloatsAreShortestRoundTrip(float value, string text)
    {
        var s = new SolverParameter { BaseLr = value };
        Assert.That(ProtoText.Print(s), Is.EqualTo($"base_lr: {text}\n"));
        var back = ProtoText.Parse<SolverParameter>(ProtoText.Print(s)).BaseLr;
        Assert.That(BitConverter.SingleToInt32Bits(back), Is.EqualTo(BitConverter.SingleToInt32Bits(value)));
    }

    [Test]
    public void DoublesAreShortestRoundTrip()
    {
        var b = new BlobProto { DoubleData = { 0.1, 1.0 / 3, 1e300 } };
        Assert.That(ProtoText.Print(b), Is.EqualTo("double_data: 0.1\ndouble_data: 0.3333333333333333\ndouble_data: 1e+300\n"));
    }

    [Test]
    public void IntegersOfEveryWidth()
    {
        var s = new SolverParameter { RandomSeed = long.MinValue, Display = -3, MaxIter = int.MaxValue };
        Assert.That(ProtoText.Print(s), Is.EqualTo("display: -3\nmax_iter: 2147483647\nrandom_seed: -9223372036854775808\n"));
        Assert.That(ProtoText.Print(new ConvolutionParameter { NumOutput = uint.MaxValue }), Is.EqualTo("num_output: 4294967295\n"));
    }

    [Test]
    public void StringsAreQuotedAndEscaped()
    {
        var l = new LayerParameter { Name = "a\"b\\c\nd\te'f\u0001g é" };
        Assert.That(ProtoText.Print(l), Is.EqualTo("name: \"a\\\"b\\\\c\\nd\\te\\'f\\001g é\"\n"));
        Assert.That(ProtoText.Parse<LayerParameter>(ProtoText.Print(l)).Name, Is.EqualTo(l.Name));
    }

    [Test]
    public void BytesAreOctalEscaped()
    {
        var d = new Datum { Data = ByteString.CopyFrom(0, 255, (byte)'A', 10, 0x7F, 0xC3) };
        Assert.That(ProtoText.Print(d), Is.EqualTo("data: \"\\000\\377A\\n\\177\\303\"\n"));
        Assert.That(ProtoText.Parse<Datum>(ProtoText.Print(d)).Data, Is.EqualTo(d.Data));
    }

    [Test]
    public void EnumsByNameAndUnknownNumbersAsNumbers()
    {
        var p = new PoolingParameter { Pool = PoolingParameter.Types.PoolMethod.Stochastic };
        Assert.That(ProtoText.Print(p), Is.EqualTo("pool: STOCHASTIC\n"));
        Assert.That(ProtoText.Print(new DataParameter { Backend = DataParameter.Types.DB.Idx }), Is.EqualTo("backend: IDX\n"));
    }

    [Test]
    public void RoundTripOfAMessageUsingEveryKindOfField()
    {
        const string text = @"
            net_param {
              name: 'all'
              layer { name: ""x"" type: ""Convolution"" bottom: [""a"", ""b""] propagate_down: [true, false]
                      loss_weight: 0.3 phase: TEST
                      param { name: ""w"" share_mode: PERMISSIVE lr_mult: 0.1 decay_mult: 1e-3 }
                      blobs { shape { dim: [2, 3] } data: [1, -2.5, inf] double_data: [nan, 1e-300] num: -1 }
                      convolution_param { num_output: 0xFFFFFFFF kernel_size: [3, 3] engine: CUDNN } }
              state { phase: TRAIN level: -2 stage: ""s"" }
            }
            random_seed: -9223372036854775808 solver_type: ADAM snapshot_format: HDF5 base_lr: 3.4028235e38
            weights: ""tab\there"" test_net_param { name: ""t"" } test_net_param { }";
        var first = ProtoText.Parse<SolverParameter>(text);
        var printed = ProtoText.Print(first);
        var second = ProtoText.Parse<SolverParameter>(printed);
        Assert.That(second, Is.EqualTo(first));
        Assert.That(ProtoText.Print(second), Is.EqualTo(printed));
        Assert.That(second.TestNetParam.Count, Is.EqualTo(2));
    }

    [Test]
    public void RoundTripOfSolverState()
    {
        var s = new SolverState { Iter = 10, LearnedNet = "x.caffemodel", RngState = ByteString.CopyFrom(1, 2, 3, 200) };
        s.History.Add(new BlobProto { Shape = new BlobShape { Dim = { 4 } }, Data = { 0.25f, -1, 1e-30f, 7 } });
        s.LossHistory.Add(0.1f);
        Assert.That(ProtoText.Parse<SolverState>(ProtoText.Print(s)), Is.EqualTo(s));
    }

    public static IEnumerable<string> SharedFiles() => SharedCaffeFiles.AllPrototxt();

    [TestCaseSource(nameof(SharedFiles))]
    public void RoundTripOfSharedCaffeFiles(string relative)
    {
        var path = SharedCaffeFiles.Get(relative);
        if (SharedCaffeFiles.IsSolver(relative)) RoundTrip<SolverParameter>(path);
        else RoundTrip<NetParameter>(path);
    }

    [Test]
    public void SharedCaffeFilesAreFound()
    {
        SharedCaffeFiles.RequireRoot();
        var files = SharedCaffeFiles.AllPrototxt().ToList();
        Assert.That(files, Does.Contain("examples/mnist/lenet_train_test.prototxt"));
        Assert.That(files, Does.Contain("models/VGG_ILSVRC_16_layers/VGG_ILSVRC_16_layers_deploy.prototxt"));
        Assert.That(files.Count(SharedCaffeFiles.IsSolver), Is.GreaterThanOrEqualTo(4));
    }

    private static void RoundTrip<T>(string path) where T : IMessage<T>, new()
    {
        var first = ProtoText.ParseFile<T>(path);
        Assert.That(first.CalculateSize(), Is.GreaterThan(0), "the file parsed to an empty message");
        var printed = ProtoText.Print(first);
        var second = ProtoText.Parse<T>(printed, path + " (printed)");
        Assert.That(second, Is.EqualTo(first));
        Assert.That(ProtoText.Print(second), Is.EqualTo(printed));
    }
}
