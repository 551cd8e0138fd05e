using Engine.Proto;
using Engine.Text;
using NUnit.Framework;

namespace Engine.Tests.Text;

/// <summary>Every parse error: its message, and the 1-based line:column it points at.</summary>
[TestFixture]
public class ProtoTextErrorTests
{
    private static ProtoTextException Fails<T>(string text, string file = "<string>") where T : Google.Protobuf.IMessage<T>, new()
        => Assert.Throws<ProtoTextException>(() => ProtoText.Parse<T>(text, file))!;

    private static void Expect<T>(string text, int line, int col, string reason) where T : Google.Protobuf.IMessage<T>, new()
    {
        var e = Fails<T>(text);
        Assert.Multiple(() =>
        {
            Assert.That(e.Reason, Is.EqualTo(reason));
            Assert.That((e.Line, e.Column), Is.EqualTo((line, col)), e.Message);
            Assert.That(e.Message, Is.EqualTo($"<string>:{line}:{col}: {reason}"));
        });
    }

    [Test]
    public void MessageHasFileLineAndColumn()
    {
        var e = Fails<NetParameter>("name: \"n\"\nlayer {\n  name: 5\n}\n", "nets/x.prototxt");
        Assert.That(e.Message, Is.EqualTo("nets/x.prototxt:3:9: expected a quoted string for field \"name\" (string), got \"5\""));
        Assert.That(e.File, Is.EqualTo("nets/x.prototxt"));
        Assert.That(e.Line, Is.EqualTo(3));
        Assert.That(e.Column, Is.EqualTo(9));
        Assert.That(e, Is.InstanceOf<EngineException>());
    }

    [Test]
    public void MessageFieldWithoutColonOrBrace() =>
        Expect<LayerParameter>("name: \"c\"\nconvolution_param num_output: 3", 2, 19,
            "expected ':' or '{' after field name \"convolution_param\"");

    [Test]
    public void MessageFieldWithColonButNoBrace() =>
        Expect<LayerParameter>("convolution_param: 3", 1, 20,
            "expected '{' or '<' to start message field \"convolution_param\", got \"3\"");

    [Test]
    public void ScalarFieldWithoutColon() =>
        Expect<ConvolutionParameter>("num_output 3", 1, 12, "expected ':' after field name \"num_output\", got \"3\"");

    [Test]
    public void ScalarFieldGivenABlock() =>
        Expect<ConvolutionParameter>("num_output { }", 1, 12, "expected ':' after field name \"num_output\", got \"{\"");

    [Test]
    public void IntegerExpected() =>
        Expect<ConvolutionParameter>("num_output: abc", 1, 13, "expected an integer for field \"num_output\" (uint32), got \"abc\"");

    [Test]
    public void IntegerGivenAFloat() =>
        Expect<ConvolutionParameter>("  num_output: 1.5", 1, 15, "expected an integer for field \"num_output\" (uint32), got \"1.5\"");

    [Test]
    public void IntegerWithTrailingLetters() =>
        Expect<ConvolutionParameter>("num_output: 12abc", 1, 13, "expected an integer for field \"num_output\" (uint32), got \"12abc\"");

    [Test]
    public void BadOctalDigit() =>
        Expect<ConvolutionParameter>("num_output: 09", 1, 13, "expected an integer for field \"num_output\" (uint32), got \"09\"");

    [Test]
    public void IntegerAtEndOfFile() =>
        Expect<ConvolutionParameter>("num_output:", 1, 12, "expected an integer for field \"num_output\" (uint32), got end of file");

    [Test]
    public void NegativeUnsigned() =>
        Expect<ConvolutionParameter>("num_output: -1", 1, 13, "value -1 out of range for uint32 field \"num_output\"");

    [Test]
    public void Uint32Overflow() =>
        Expect<ConvolutionParameter>("num_output: 4294967296", 1, 13, "value 4294967296 out of range for uint32 field \"num_output\"");

    [Test]
    public void Int32Overflow() =>
        Expect<NetStateRule>("min_level: 2147483648", 1, 12, "value 2147483648 out of range for int32 field \"min_level\"");

    [Test]
    public void Int32Underflow() =>
        Expect<NetStateRule>("min_level: -0x80000001", 1, 12, "value -0x80000001 out of range for int32 field \"min_level\"");

    [Test]
    public void Int64Overflow() =>
        Expect<BlobShape>("dim: 9223372036854775808", 1, 6, "value 9223372036854775808 out of range for int64 field \"dim\"");

    [Test]
    public void HugeInteger() =>
        Expect<BlobShape>("dim: 123456789012345678901234567890", 1, 6,
            "value 123456789012345678901234567890 out of range for int64 field \"dim\"");

    [Test]
    public void FloatExpected() =>
        Expect<SolverParameter>("base_lr: fast", 1, 10, "expected a number for field \"base_lr\" (float), got \"fast\"");

    [Test]
    public void FloatMalformed() =>
        Expect<SolverParameter>("base_lr: 1.2.3", 1, 10, "expected a number for field \"base_lr\" (float), got \"1.2.3\"");

    [Test]
    public void FloatWithEmptyExponent() =>
        Expect<SolverParameter>("base_lr: -1e", 1, 10, "expected a number for field \"base_lr\" (float), got \"-1e\"");

    [Test]
    public void FloatGivenHex() =>
        Expect<SolverParameter>("base_lr: 0x10", 1, 10, "expected a number for field \"base_lr\" (float), got \"0x10\"");

    [Test]
    public void FloatGivenAString() =>
        Expect<SolverParameter>("base_lr: \"0.1\"", 1, 10, "expected a number for field \"base_lr\" (float), got string \"0.1\"");

    [Test]
    public void BoolExpected() =>
        Expect<ConvolutionParameter>("bias_term: yes", 1, 12, "expected true or false for field \"bias_term\" (bool), got \"yes\"");

    [Test]
    public void BoolGivenTwo() =>
        Expect<ConvolutionParameter>("bias_term: 2", 1, 12, "expected true or false for field \"bias_term\" (bool), got \"2\"");

    [Test]
    public void StringExpected() =>
        Expect<LayerParameter>("type: Convolution", 1, 7, "expected a quoted string for field \"type\" (string), got \"Convolution\"");

    [Test]
    public void BytesExpected() =>
        Expect<Datum>("data: 12", 1, 7, "expected a quoted string for field \"data\" (bytes), got \"12\"");

    [Test]
    public void UnterminatedString() =>
        Expect<LayerParameter>("name: \"abc\ntype: \"x\"", 1, 7, "unterminated string");

    [Test]
    public void UnterminatedStringAtEndOfFile() =>
        Expect<LayerParameter>("bottom: 'a'\nname: 'abc", 2, 7, "unterminated string");

    [Test]
    public void BackslashAtEndOfFile() =>
        Expect<LayerParameter>("name: \"abc\\", 1, 7, "unterminated string");

    [Test]
    public void InvalidEscape() =>
        Expect<LayerParameter>("name: \"a\\qb\"", 1, 9, "invalid escape sequence \"\\q\" in string");

    [Test]
    public void HexEscapeWithoutDigits() =>
        Expect<LayerParameter>("name: \"\\xg\"", 1, 8, "expected hex digits after \"\\x\" in string");

    [Test]
    public void OctalEscapeAboveAByte() =>
        Expect<LayerParameter>("name: \"\\400\"", 1, 8, "octal escape \"\\400\" is above \\377");

    [Test]
    public void ShortUnicodeEscape() =>
        Expect<LayerParameter>("name: \"\\u12\"", 1, 8, "expected 4 hex digits after \"\\u\" in string");

    [Test]
    public void SurrogateUnicodeEscape() =>
        Expect<LayerParameter>("name: \"\\ud800\"", 1, 8, "\"\\ud800\" is not a Unicode scalar value");

    [Test]
    public void InvalidUtf8InAStringField() =>
        Expect<LayerParameter>("name: \"ok\" \"\\xff\"", 1, 7,
            "string for field \"name\" is not valid UTF-8 (use a bytes field for binary data)");

    [Test]
    public void UnknownEnumValue() =>
        Expect<PoolingParameter>("pool: MAXX", 1, 7, "unknown enum value \"MAXX\" for field \"pool\"; expected one of MAX, AVE, STOCHASTIC");

    [Test]
    public void EnumNamesAreCaseSensitive() =>
        Expect<PoolingParameter>("pool: max", 1, 7, "unknown enum value \"max\" for field \"pool\"; expected one of MAX, AVE, STOCHASTIC");

    [Test]
    public void UnknownEnumNumber() =>
        Expect<PoolingParameter>("pool: 7", 1, 7, "unknown enum number 7 for field \"pool\"; expected one of MAX, AVE, STOCHASTIC");

    [Test]
    public void EnumGivenAString() =>
        Expect<PoolingParameter>("pool: \"MAX\"", 1, 7,
            "expected an enum value for field \"pool\" (PoolMethod), got string \"MAX\"; expected one of MAX, AVE, STOCHASTIC");

    [Test]
    public void UnknownFieldWithSuggestion() =>
        Expect<LayerParameter>("convolution_param {\n  num_ouput: 96\n}", 2, 3,
            "unknown field \"num_ouput\" in ConvolutionParameter; did you mean \"num_output\"?");

    [Test]
    public void UnknownFieldSuggestionIgnoresCase() =>
        Expect<ConvolutionParameter>("Num_Output: 96", 1, 1, "unknown field \"Num_Output\" in ConvolutionParameter; did you mean \"num_output\"?");

    [Test]
    public void UnknownFieldSuggestsTheNearest() =>
        Expect<LayerParameter>("botom: \"x\"", 1, 1, "unknown field \"botom\" in LayerParameter; did you mean \"bottom\"?");

    [Test]
    public void UnknownFieldWithoutCloseMatchListsTheFields() =>
        Expect<NetStateRule>("zzz: 1", 1, 1, "unknown field \"zzz\" in NetStateRule; valid fields are phase, min_level, max_level, stage, not_stage");

    [Test]
    public void FieldNameExpected() =>
        Expect<LayerParameter>("name: \"a\" : 3", 1, 11, "expected a field name of LayerParameter, got \":\"");

    [Test]
    public void StrayClosingBraceAtTopLevel() =>
        Expect<LayerParameter>("name: \"a\"\n}", 2, 1, "unexpected '}' with no open message");

    [Test]
    public void UnclosedMessage() =>
        Expect<NetParameter>("layer {\n  name: \"a\"\n  convolution_param {\n    num_output: 1\n}\n", 6, 1,
            "expected '}' to close \"layer\" (opened at 1:7), got end of file");

    [Test]
    public void MismatchedClosingBracket() =>
        Expect<LayerParameter>("convolution_param { num_output: 1 >", 1, 35,
            "expected '}' to close \"convolution_param\" (opened at 1:19), got '>'");

    [Test]
    public void UnexpectedCharacter() =>
        Expect<LayerParameter>("name: \"a\"\n  @type: \"b\"", 2, 3, "unexpected character '@'");

    [Test]
    public void ListOnASingularField() =>
        Expect<ConvolutionParameter>("num_output: [1, 2]", 1, 13, "field \"num_output\" is not repeated; a list [...] is not allowed");

    [Test]
    public void ListOnASingularMessageField() =>
        Expect<LayerParameter>("convolution_param [ { } ]", 1, 19, "field \"convolution_param\" is not repeated; a list [...] is not allowed");

    [Test]
    public void ListWithoutComma() =>
        Expect<ConvolutionParameter>("kernel_size: [1 2]", 1, 17, "expected ',' or ']' in the list of \"kernel_size\", got \"2\"");

    [Test]
    public void ListNotClosed() =>
        Expect<ConvolutionParameter>("kernel_size: [1, 2", 1, 19,
            "expected ']' to close the list of \"kernel_size\" (opened at 1:14), got end of file");

    [Test]
    public void ListWithTrailingComma() =>
        Expect<ConvolutionParameter>("kernel_size: [1, ]", 1, 18, "expected an integer for field \"kernel_size\" (uint32), got \"]\"");

    [Test]
    public void ColumnsCountTabsAsOneAndLinesAfterComments()
    {
        var e = Fails<NetParameter>("# comment with { and \"\n\tlayer {\n\t\tnmae: \"x\"\n\t}\n");
        Assert.That((e.Line, e.Column), Is.EqualTo((3, 3)));
        Assert.That(e.Reason, Is.EqualTo("unknown field \"nmae\" in LayerParameter; did you mean \"name\"?"));
    }

    [Test]
    public void CrLfLineEndingsCountAsOneLine()
    {
        var e = Fails<LayerParameter>("name: \"a\"\r\nname: 3\r\n");
        Assert.That((e.Line, e.Column), Is.EqualTo((2, 7)));
    }
}
