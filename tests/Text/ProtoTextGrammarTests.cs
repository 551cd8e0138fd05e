using Engine.Proto;
using Engine.Text;
using Google.Protobuf;
using NUnit.Framework;

namespace Engine.Tests.Text;

/// <summary>Each feature of the text grammar on its own, against hand-written expected values.</summary>
[TestFixture]
public class ProtoTextGrammarTests
{
    private static LayerParameter Layer(string text) => ProtoText.Parse<LayerParameter>(text);

    private static SolverParameter Solver(string text) => ProtoText.Parse<SolverParameter>(text);

    [Test]
    public void EmptyTextGivesAnEmptyMessage()
    {
        Assert.That(ProtoText.Parse<NetParameter>(""), Is.EqualTo(new NetParameter()));
        Assert.That(ProtoText.Parse<NetParameter>("  \n\t# only a comment\n"), Is.EqualTo(new NetParameter()));
    }

    [Test]
    public void CommentsRunToTheEndOfTheLine()
    {
        var l = Layer("# leading\nname: \"a\" # trailing { not parsed\n# type: \"X\"\ntype: \"ReLU\"#no space");
        Assert.That(l.Name, Is.EqualTo("a"));
        Assert.That(l.Type, Is.EqualTo("ReLU"));
    }

    [Test]
    public void HashInsideAStringIsNotAComment()
    {
        Assert.That(Layer("name: \"a#b\"").Name, Is.EqualTo("a#b"));
    }

    [Test]
    public void ScalarFieldColonValue()
    {
        var l = Layer("name:\"conv1\" type : \"Convolution\"");
        Assert.That(l.Name, Is.EqualTo("conv1"));
        Assert.That(l.Type, Is.EqualTo("Convolution"));
    }

    [Test]
    public void MessageFieldWithBraces()
    {
        var l = Layer("convolution_param { num_output: 20 kernel_size: 5 }");
        Assert.That(l.ConvolutionParam.NumOutput, Is.EqualTo(20u));
        Assert.That(l.ConvolutionParam.KernelSize, Is.EqualTo(new uint[] { 5 }));
    }

    [Test]
    public void MessageFieldWithColonBeforeBrace()
    {
        var l = Layer("convolution_param: { num_output: 20 }");
        Assert.That(l.ConvolutionParam.NumOutput, Is.EqualTo(20u));
    }

    [Test]
    public void MessageFieldWithAngleBrackets()
    {
        var l = Layer("convolution_param < num_output: 7 weight_filler: < type: \"xavier\" > >");
        Assert.That(l.ConvolutionParam.NumOutput, Is.EqualTo(7u));
        Assert.That(l.ConvolutionParam.WeightFiller.Type, Is.EqualTo("xavier"));
    }

    [Test]
    public void EmptyMessageIsSet()
    {
        var l = Layer("input_param { }");
        Assert.That(l.InputParam, Is.Not.Null);
        Assert.That(l.InputParam.Shape, Is.Empty);
    }

    [Test]
    public void RepeatedScalarsAsRepeatedLines()
    {
        var l = Layer("bottom: \"a\"\nbottom: \"b\"\ntop: \"c\"\nbottom: \"d\"");
        Assert.That(l.Bottom, Is.EqualTo(new[] { "a", "b", "d" }));
        Assert.That(l.Top, Is.EqualTo(new[] { "c" }));
    }

    [Test]
    public void RepeatedScalarsAsList()
    {
        var l = Layer("bottom: [\"a\", 'b'] convolution_param { kernel_size: [3, 5] pad: [] stride: [2] }");
        Assert.That(l.Bottom, Is.EqualTo(new[] { "a", "b" }));
        Assert.That(l.ConvolutionParam.KernelSize, Is.EqualTo(new uint[] { 3, 5 }));
        Assert.That(l.ConvolutionParam.Pad, Is.Empty);
        Assert.That(l.ConvolutionParam.Stride, Is.EqualTo(new uint[] { 2 }));
    }

    [Test]
    public void ListsAppendToRepeatedLines()
    {
        var shape = ProtoText.Parse<BlobShape>("dim: 1 dim: [2, 3] dim: 4");
        Assert.That(shape.Dim, Is.EqualTo(new long[] { 1, 2, 3, 4 }));
    }

    [Test]
    public void RepeatedMessagesAsRepeatedBlocksAndAsList()
    {
        var net = ProtoText.Parse<NetParameter>(
            "layer { name: \"a\" } layer [ { name: \"b\" }, < name: \"c\" > ] layer: [{ name: \"d\" }] layer: []");
        Assert.That(net.Layer.Select(l => l.Name), Is.EqualTo(new[] { "a", "b", "c", "d" }));
    }

    [Test]
    public void CommaAndSemicolonSeparators()
    {
        var l = Layer("name: \"a\", type: \"b\"; bottom: \"c\";\nparam { lr_mult: 1, decay_mult: 0; }, param { lr_mult: 2 };");
        Assert.That(l.Name, Is.EqualTo("a"));
        Assert.That(l.Type, Is.EqualTo("b"));
        Assert.That(l.Bottom, Is.EqualTo(new[] { "c" }));
        Assert.That(l.Param.Select(p => p.LrMult), Is.EqualTo(new[] { 1f, 2f }));
        Assert.That(l.Param[0].DecayMult, Is.EqualTo(0f));
    }

    [Test]
    public void EnumsByName()
    {
        var l = Layer("pooling_param { pool: AVE } lrn_param { norm_region: WITHIN_CHANNEL } include { phase: TRAIN }");
        Assert.That(l.PoolingParam.Pool, Is.EqualTo(PoolingParameter.Types.PoolMethod.Ave));
        Assert.That(l.LrnParam.NormRegion, Is.EqualTo(LRNParameter.Types.NormRegion.WithinChannel));
        Assert.That(l.Include[0].Phase, Is.EqualTo(Phase.Train));
    }

    [Test]
    public void EnumsByNumber()
    {
        var l = Layer("pooling_param { pool: 2 } phase: 1");
        Assert.That(l.PoolingParam.Pool, Is.EqualTo(PoolingParameter.Types.PoolMethod.Stochastic));
        Assert.That(l.Phase, Is.EqualTo(Phase.Test));
        var d = ProtoText.Parse<DataParameter>("backend: 1000");
        Assert.That(d.Backend, Is.EqualTo(DataParameter.Types.DB.Idx));
    }

    [Test]
    public void StringsInSingleOrDoubleQuotes()
    {
        Assert.That(Layer("name: 'it\"s'").Name, Is.EqualTo("it\"s"));
        Assert.That(Layer("name: \"it's\"").Name, Is.EqualTo("it's"));
        Assert.That(Layer("name: \"\"").HasName, Is.True);
        Assert.That(Layer("name: ''").Name, Is.EqualTo(""));
    }

    [Test]
    public void StringEscapes()
    {
        Assert.That(Layer(@"name: ""a\nb\tc\\d\'e\""f\rg""").Name, Is.EqualTo("a\nb\tc\\d'e\"f\rg"));
        Assert.That(Layer(@"name: ""\a\b\f\v\?""").Name, Is.EqualTo("\a\b\f\v?"));
        Assert.That(Layer(@"name: ""\x41\x4a\x4B\x9""").Name, Is.EqualTo("AJK\t"));
        Assert.That(Layer(@"name: ""\101\060\0\12""").Name, Is.EqualTo("A0\0\n"));
        Assert.That(Layer(@"name: ""\u00e9\U0001F600""").Name, Is.EqualTo("é\U0001F600"));
    }

    [Test]
    public void OctalEscapesTakeAtMostThreeDigits()
    {
        Assert.That(Layer(@"name: ""\1012""").Name, Is.EqualTo("A2"));
    }

    [Test]
    public void HexEscapesTakeAtMostTwoDigits()
    {
        Assert.That(Layer(@"name: ""\x414""").Name, Is.EqualTo("A4"));
    }

    [Test]
    public void EscapedBytesFormUtf8()
    {
        Assert.That(Layer(@"name: ""caf\xc3\xa9 \303\251""").Name, Is.EqualTo("café é"));
    }

    [Test]
    public void NonAsciiCharactersAreKept()
    {
        Assert.That(Layer("name: \"naïve 日本 \U0001F600\"").Name, Is.EqualTo("naïve 日本 \U0001F600"));
    }

    [Test]
    public void AdjacentStringLiteralsConcatenate()
    {
        Assert.That(Layer("name: \"conv\" '_' \"1\"\n  \"x\"").Name, Is.EqualTo("conv_1x"));
        Assert.That(Layer("bottom: \"a\" \"b\" bottom: \"c\"").Bottom, Is.EqualTo(new[] { "ab", "c" }));
    }

    [Test]
    public void BytesFields()
    {
        var d = ProtoText.Parse<Datum>(@"data: ""\000\377ab\x10"" ""c"" channels: 1");
        Assert.That(d.Data.ToByteArray(), Is.EqualTo(new byte[] { 0, 255, (byte)'a', (byte)'b', 16, (byte)'c' }));
        Assert.That(d.Channels, Is.EqualTo(1));
        var s = ProtoText.Parse<SolverState>("rng_state: 'é'");
        Assert.That(s.RngState.ToByteArray(), Is.EqualTo(new byte[] { 0xC3, 0xA9 }));
    }

    [Test]
    public void DecimalHexAndOctalIntegers()
    {
        Assert.That(ProtoText.Parse<ConvolutionParameter>("num_output: 96").NumOutput, Is.EqualTo(96u));
        Assert.That(ProtoText.Parse<ConvolutionParameter>("num_output: 0x1F").NumOutput, Is.EqualTo(31u));
        Assert.That(ProtoText.Parse<ConvolutionParameter>("num_output: 0XfF").NumOutput, Is.EqualTo(255u));
        Assert.That(ProtoText.Parse<ConvolutionParameter>("num_output: 010").NumOutput, Is.EqualTo(8u));
        Assert.That(ProtoText.Parse<ConvolutionParameter>("num_output: 0").NumOutput, Is.EqualTo(0u));
        Assert.That(ProtoText.Parse<ConvolutionParameter>("num_output: 00").NumOutput, Is.EqualTo(0u));
    }

    [Test]
    public void SignedIntegers()
    {
        Assert.That(ProtoText.Parse<NetStateRule>("min_level: -5").MinLevel, Is.EqualTo(-5));
        Assert.That(ProtoText.Parse<NetStateRule>("min_level: - 0x10").MinLevel, Is.EqualTo(-16));
        Assert.That(ProtoText.Parse<NetStateRule>("min_level: -2147483648").MinLevel, Is.EqualTo(int.MinValue));
        Assert.That(ProtoText.Parse<NetStateRule>("max_level: 2147483647").MaxLevel, Is.EqualTo(int.MaxValue));
        Assert.That(Solver("random_seed: -1").RandomSeed, Is.EqualTo(-1L));
    }

    [Test]
    public void IntegerLimitsPerType()
    {
        Assert.That(ProtoText.Parse<ConvolutionParameter>("num_output: 4294967295").NumOutput, Is.EqualTo(uint.MaxValue));
        Assert.That(ProtoText.Parse<ConvolutionParameter>("num_output: 0xFFFFFFFF").NumOutput, Is.EqualTo(uint.MaxValue));
        Assert.That(Solver("random_seed: 9223372036854775807").RandomSeed, Is.EqualTo(long.MaxValue));
        Assert.That(Solver("random_seed: -9223372036854775808").RandomSeed, Is.EqualTo(long.MinValue));
        Assert.That(ProtoText.Parse<BlobShape>("dim: 0x7fffffffffffffff").Dim[0], Is.EqualTo(long.MaxValue));
    }

    [Test]
    public void FloatsWithExponentAndSuffix()
    {
        Assert.That(Solver("base_lr: 0.01").BaseLr, Is.EqualTo(0.01f));
        Assert.That(Solver("base_lr: 1e-3").BaseLr, Is.EqualTo(1e-3f));
        Assert.That(Solver("base_lr: 1.5E+2").BaseLr, Is.EqualTo(150f));
        Assert.That(Solver("base_lr: 2.5e2").BaseLr, Is.EqualTo(250f));
        Assert.That(Solver("base_lr: .5").BaseLr, Is.EqualTo(0.5f));
        Assert.That(Solver("base_lr: 5.").BaseLr, Is.EqualTo(5f));
        Assert.That(Solver("base_lr: 2f").BaseLr, Is.EqualTo(2f));
        Assert.That(Solver("base_lr: 1.25F").BaseLr, Is.EqualTo(1.25f));
        Assert.That(Solver("base_lr: 1e-2f").BaseLr, Is.EqualTo(0.01f));
        Assert.That(Solver("base_lr: -0.75").BaseLr, Is.EqualTo(-0.75f));
    }

    [Test]
    public void IntegersAreAcceptedForFloatFields()
    {
        Assert.That(Solver("base_lr: 3").BaseLr, Is.EqualTo(3f));
        Assert.That(Solver("base_lr: -2").BaseLr, Is.EqualTo(-2f));
        Assert.That(Solver("base_lr: 0").BaseLr, Is.EqualTo(0f));
        Assert.That(Solver("base_lr: 00.5").BaseLr, Is.EqualTo(0.5f));
    }

    [Test]
    public void InfinityAndNan()
    {
        Assert.That(Solver("base_lr: inf").BaseLr, Is.EqualTo(float.PositiveInfinity));
        Assert.That(Solver("base_lr: -inf").BaseLr, Is.EqualTo(float.NegativeInfinity));
        Assert.That(Solver("base_lr: infinity").BaseLr, Is.EqualTo(float.PositiveInfinity));
        Assert.That(Solver("base_lr: -Infinity").BaseLr, Is.EqualTo(float.NegativeInfinity));
        Assert.That(Solver("base_lr: INF").BaseLr, Is.EqualTo(float.PositiveInfinity));
        Assert.That(float.IsNaN(Solver("base_lr: nan").BaseLr), Is.True);
        Assert.That(float.IsNaN(Solver("base_lr: NaN").BaseLr), Is.True);
    }

    [Test]
    public void NegativeZeroKeepsItsSign()
    {
        Assert.That(float.IsNegative(Solver("base_lr: -0.0").BaseLr), Is.True);
        Assert.That(float.IsNegative(Solver("base_lr: 0").BaseLr), Is.False);
    }

    [Test]
    public void DoublesKeepFullPrecision()
    {
        var b = ProtoText.Parse<BlobProto>("double_data: [0.1, 1e300, -2.5e-310] data: 0.1");
        Assert.That(b.DoubleData, Is.EqualTo(new[] { 0.1, 1e300, -2.5e-310 }));
        Assert.That(b.Data, Is.EqualTo(new[] { 0.1f }));
    }

    [TestCase("true", true)]
    [TestCase("false", false)]
    [TestCase("t", true)]
    [TestCase("f", false)]
    [TestCase("True", true)]
    [TestCase("False", false)]
    [TestCase("1", true)]
    [TestCase("0", false)]
    public void Booleans(string text, bool expected)
    {
        var c = ProtoText.Parse<ConvolutionParameter>("bias_term: " + text);
        Assert.That(c.HasBiasTerm, Is.True);
        Assert.That(c.BiasTerm, Is.EqualTo(expected));
    }

    [Test]
    public void RepeatedBooleans()
    {
        Assert.That(Layer("propagate_down: [true, f, 1] propagate_down: 0").PropagateDown, Is.EqualTo(new[] { true, false, true, false }));
    }

    [Test]
    public void SingularFieldGivenTwiceTakesTheLastValue()
    {
        var l = Layer("name: \"first\" type: \"A\" name: \"second\"");
        Assert.That(l.Name, Is.EqualTo("second"));
        Assert.That(ProtoText.Parse<PoolingParameter>("pool: AVE pool: MAX").Pool, Is.EqualTo(PoolingParameter.Types.PoolMethod.Max));
    }

    [Test]
    public void SingularMessageGivenTwiceIsMerged()
    {
        var l = Layer("convolution_param { num_output: 1 kernel_size: 3 } convolution_param { num_output: 2 pad: 1 }");
        Assert.That(l.ConvolutionParam.NumOutput, Is.EqualTo(2u));
        Assert.That(l.ConvolutionParam.KernelSize, Is.EqualTo(new uint[] { 3 }));
        Assert.That(l.ConvolutionParam.Pad, Is.EqualTo(new uint[] { 1 }));
    }

    [Test]
    public void PresenceIsRecordedEvenForDefaultValues()
    {
        var c = ProtoText.Parse<ConvolutionParameter>("bias_term: true group: 1");
        Assert.That(c.HasBiasTerm, Is.True);
        Assert.That(c.HasGroup, Is.True);
        Assert.That(c.HasNumOutput, Is.False);
    }

    [Test]
    public void MergeIntoAnExistingMessage()
    {
        var l = new LayerParameter { Name = "keep", Type = "old" };
        l.Bottom.Add("x");
        ProtoText.Merge(l, "type: \"new\" bottom: \"y\"");
        Assert.That(l.Name, Is.EqualTo("keep"));
        Assert.That(l.Type, Is.EqualTo("new"));
        Assert.That(l.Bottom, Is.EqualTo(new[] { "x", "y" }));
    }

    [Test]
    public void NestedMessagesSeveralLevelsDeep()
    {
        var s = Solver("net_param { name: \"n\" layer { name: \"l\" convolution_param { weight_filler { type: \"gaussian\" std: 0.01 } } } }");
        var f = s.NetParam.Layer[0].ConvolutionParam.WeightFiller;
        Assert.That(f.Type, Is.EqualTo("gaussian"));
        Assert.That(f.Std, Is.EqualTo(0.01f));
    }

    [Test]
    public void WhitespaceIsFree()
    {
        var l = Layer("\r\n\tname\t:\t\"a\"\r\n\r\nconvolution_param{num_output:3}bottom:\"b\"");
        Assert.That(l.Name, Is.EqualTo("a"));
        Assert.That(l.ConvolutionParam.NumOutput, Is.EqualTo(3u));
        Assert.That(l.Bottom, Is.EqualTo(new[] { "b" }));
    }

    [Test]
    public void ByteOrderMarkAtTheStartIsSkipped()
    {
        Assert.That(Layer("\uFEFFname: \"a\"").Name, Is.EqualTo("a"));
    }

    [Test]
    public void ParseFileReadsAFile()
    {
        var path = Path.Combine(Path.GetTempPath(), $"prototext-{Guid.NewGuid():N}.prototxt");
        try
        {
            File.WriteAllText(path, "name: \"n\"\nlayer { name: \"a\" type: \"ReLU\" }\n");
            var net = ProtoText.ParseFile<NetParameter>(path);
            Assert.That(net.Name, Is.EqualTo("n"));
            Assert.That(net.Layer[0].Type, Is.EqualTo("ReLU"));
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Test]
    public void ParseFileOfAMissingFile()
    {
        var path = Path.Combine(Path.GetTempPath(), $"missing-{Guid.NewGuid():N}.prototxt");
        var e = Assert.Throws<EngineException>(() => ProtoText.ParseFile<NetParameter>(path))!;
        Assert.That(e.Message, Is.EqualTo($"{path}: no such file"));
    }

    [Test]
    public void GenericMessagesWork()
    {
        // Not Caffe-specific: any generated message, e.g. protobuf's own descriptor messages.
        var d = ProtoText.Parse<Google.Protobuf.Reflection.FieldDescriptorProto>("name: \"x\" number: 3 label: LABEL_REPEATED type: TYPE_FLOAT");
        Assert.That(d.Name, Is.EqualTo("x"));
        Assert.That(d.Number, Is.EqualTo(3));
        Assert.That(d.Label, Is.EqualTo(Google.Protobuf.Reflection.FieldDescriptorProto.Types.Label.Repeated));
        Assert.That(d.Type, Is.EqualTo(Google.Protobuf.Reflection.FieldDescriptorProto.Types.Type.Float));
        Assert.That(d, Is.InstanceOf<IMessage>());
    }
}
