using System.Collections;
using System.Globalization;
using System.Text;
using Google.Protobuf;
using Google.Protobuf.Reflection;

namespace Engine.Text;

/// <summary>
/// Writes a message as protobuf text in the style of Caffe's files: two-space indent,
/// <c>name {</c> … <c>}</c> for messages, one <c>name: value</c> line per scalar (repeated
/// fields repeat the line), enums by name, strings double-quoted. Only fields that are set are
/// written (proto2 presence, non-empty repeated), in declaration order.
/// </summary>
internal static class TextPrinter
{
    public static string Print(IMessage message)
    {
        var sb = new StringBuilder();
        PrintFields(sb, message, 0);
        return sb.ToString();
    }

    private static void PrintFields(StringBuilder sb, IMessage message, int depth)
    {
        foreach (var field in message.Descriptor.Fields.InDeclarationOrder())
        {
            if (field.IsMap) throw new NotSupportedException($"map field \"{field.Name}\" cannot be printed as text");
            var value = field.Accessor.GetValue(message);
            if (field.IsRepeated)
            {
                foreach (var item in (IList)value) PrintField(sb, field, item, depth);
            }
            else if (field.HasPresence ? field.Accessor.HasValue(message) : !IsDefault(value))
            {
                PrintField(sb, field, value, depth);
            }
        }
    }

    private static void PrintField(StringBuilder sb, FieldDescriptor field, object value, int depth)
    {
        sb.Append(' ', 2 * depth).Append(field.Name);
        if (field.FieldType == FieldType.Message || field.FieldType == FieldType.Group)
        {
            sb.Append(" {\n");
            PrintFields(sb, (IMessage)value, depth + 1);
            sb.Append(' ', 2 * depth).Append("}\n");
            return;
        }
        sb.Append(": ").Append(FormatScalar(field, value)).Append('\n');
    }

    /// <summary>The text spelling of one non-message value.</summary>
    public static string FormatScalar(FieldDescriptor field, object value) => field.FieldType switch
    {
        FieldType.Float => FormatFloat((float)value),
        FieldType.Double => FormatDouble((double)value),
        FieldType.Bool => (bool)value ? "true" : "false",
        FieldType.String => QuoteString((string)value),
        FieldType.Bytes => QuoteBytes(((ByteString)value).Span),
        FieldType.Enum => FormatEnum(field.EnumType, Convert.ToInt32(value, CultureInfo.InvariantCulture)),
        _ => Convert.ToString(value, CultureInfo.InvariantCulture)!,
    };

    private static string FormatEnum(EnumDescriptor type, int number) =>
        type.FindValueByNumber(number)?.Name ?? number.ToString(CultureInfo.InvariantCulture);

    /// <summary>Shortest text that reads back as the same float: 0.01, 1e-08, inf, nan.</summary>
    public static string FormatFloat(float v)
    {
        if (float.IsNaN(v)) return "nan";
        if (float.IsInfinity(v)) return v > 0 ? "inf" : "-inf";
        return LowerExponent(v.ToString("R", CultureInfo.InvariantCulture));
    }

    public static string FormatDouble(double v)
    {
        if (double.IsNaN(v)) return "nan";
        if (double.IsInfinity(v)) return v > 0 ? "inf" : "-inf";
        return LowerExponent(v.ToString("R", CultureInfo.InvariantCulture));
    }

    private static string LowerExponent(string s) => s.Replace('E', 'e');

    /// <summary>
    /// A string in double quotes: quotes, backslashes and control characters escaped;
    /// other characters (non-ASCII included) written as they are.
    /// </summary>
    public static string QuoteString(string s)
    {
        var sb = new StringBuilder(s.Length + 2).Append('"');
        foreach (char c in s)
        {
            if (c < 0x80) AppendAsciiByte(sb, (byte)c);
            else sb.Append(c);
        }
        return sb.Append('"').ToString();
    }

    /// <summary>Bytes in double quotes: printable ASCII as is, everything else as \NNN octal.</summary>
    public static string QuoteBytes(ReadOnlySpan<byte> bytes)
    {
        var sb = new StringBuilder(bytes.Length + 2).Append('"');
        foreach (byte b in bytes) AppendAsciiByte(sb, b);
        return sb.Append('"').ToString();
    }

    private static void AppendAsciiByte(StringBuilder sb, byte b)
    {
        switch (b)
        {
            case (byte)'"': sb.Append("\\\""); break;
            case (byte)'\'': sb.Append("\\'"); break;
            case (byte)'\\': sb.Append("\\\\"); break;
            case (byte)'\n': sb.Append("\\n"); break;
            case (byte)'\r': sb.Append("\\r"); break;
            case (byte)'\t': sb.Append("\\t"); break;
            default:
                if (b >= 0x20 && b < 0x7F) sb.Append((char)b);
                else sb.Append('\\').Append(Convert.ToString(b, 8).PadLeft(3, '0'));
                break;
        }
    }

    private static bool IsDefault(object value) => value switch
    {
        null => true,
        IMessage => false,
        string s => s.Length == 0,
        ByteString b => b.IsEmpty,
        bool b => !b,
        float f => BitConverter.SingleToInt32Bits(f) == 0,
        double d => BitConverter.DoubleToInt64Bits(d) == 0,
        Enum e => Convert.ToInt64(e, CultureInfo.InvariantCulture) == 0,
        _ => Convert.ToDecimal(value, CultureInfo.InvariantCulture) == 0,
    };
}
