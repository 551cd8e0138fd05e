using System.Globalization;
using System.Text;
using Google.Protobuf;
using Google.Protobuf.Reflection;

namespace Engine.Text;

/// <summary>Turning the tokens of one value into the CLR value a field's accessor takes.</summary>
internal sealed partial class TextParser
{
    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>The proto spelling of a field's type, for messages: "uint32", "float", an enum's name.</summary>
    internal static string TypeName(FieldDescriptor field) => field.FieldType switch
    {
        FieldType.Double => "double",
        FieldType.Float => "float",
        FieldType.Int64 => "int64",
        FieldType.UInt64 => "uint64",
        FieldType.Int32 => "int32",
        FieldType.Fixed64 => "fixed64",
        FieldType.Fixed32 => "fixed32",
        FieldType.Bool => "bool",
        FieldType.String => "string",
        FieldType.Bytes => "bytes",
        FieldType.UInt32 => "uint32",
        FieldType.SFixed32 => "sfixed32",
        FieldType.SFixed64 => "sfixed64",
        FieldType.SInt32 => "sint32",
        FieldType.SInt64 => "sint64",
        FieldType.Enum => field.EnumType.Name,
        _ => field.FieldType.ToString().ToLowerInvariant(),
    };

    /// <summary>Reads one value for a non-message field, boxed as the field's CLR type.</summary>
    private object ReadValue(FieldDescriptor field)
    {
        switch (field.FieldType)
        {
            case FieldType.Int32:
            case FieldType.SInt32:
            case FieldType.SFixed32:
                return (int)ReadInteger(field, int.MinValue, int.MaxValue);
            case FieldType.Int64:
            case FieldType.SInt64:
            case FieldType.SFixed64:
                return (long)ReadInteger(field, long.MinValue, long.MaxValue);
            case FieldType.UInt32:
            case FieldType.Fixed32:
                return (uint)ReadInteger(field, 0, uint.MaxValue);
            case FieldType.UInt64:
            case FieldType.Fixed64:
                return (ulong)ReadInteger(field, 0, ulong.MaxValue);
            case FieldType.Float:
                return (float)ReadFloat(field);
            case FieldType.Double:
                return ReadFloat(field);
            case FieldType.Bool:
                return ReadBool(field);
            case FieldType.String:
                return ReadString(field);
            case FieldType.Bytes:
                return ByteString.CopyFrom(ReadBytes(field, out _));
            case FieldType.Enum:
                return ReadEnum(field);
            default:
                throw new NotSupportedException($"field type {field.FieldType} of \"{field.Name}\"");
        }
    }

    // ---------------------------------------------------------------- integers

    /// <summary>
    /// Reads an optional '-' and an integer token (decimal, 0x hex, or 0-led octal) and checks it
    /// lies in [min, max]. Returned as Int128 so every proto integer type fits.
    /// </summary>
    private Int128 ReadInteger(FieldDescriptor field, Int128 min, Int128 max)
    {
        var (negative, t, at) = ReadSign();
        string shown = (negative ? "-" : "") + t.Text;
        if (t.Kind != TokenKind.Number || !TryParseUnsigned(t.Text, out var magnitude))
            throw _lex.Error(at, $"expected an integer for field \"{field.Name}\" ({TypeName(field)}), got {t.Describe(negative)}");
        Int128 value = negative ? -magnitude : magnitude;
        if (value < min || value > max)
            throw _lex.Error(at, $"value {shown} out of range for {TypeName(field)} field \"{field.Name}\"");
        return value;
    }

    /// <summary>
    /// Consumes a leading '-' if present, then the token after it. <c>at</c> is where the value
    /// starts (the '-' when there is one), for error positions.
    /// </summary>
    private (bool negative, Token token, Token at) ReadSign()
    {
        var first = _lex.Next();
        return first.Is('-') ? (true, _lex.Next(), first) : (false, first, first);
    }

    /// <summary>Parses an unsigned integer spelling; values beyond 2^64 − 1 still parse (then fail the range check).</summary>
    private static bool TryParseUnsigned(string s, out Int128 value)
    {
        value = 0;
        int radix = 10, start = 0;
        if (s.Length > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) (radix, start) = (16, 2);
        else if (s.Length > 1 && s[0] == '0') (radix, start) = (8, 1);
        var limit = (Int128)ulong.MaxValue + 1;
        for (int i = start; i < s.Length; i++)
        {
            char c = s[i];
            int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : 99;
            if (d >= radix) return false;
            value = value * radix + d;
            if (value > limit) value = limit; // saturate: out of range for every type anyway
        }
        return s.Length > start;
    }

    // ---------------------------------------------------------------- floats

    /// <summary>
    /// Reads a float or double: decimal with optional exponent and 'f' suffix, an integer
    /// (hex too), or inf / infinity / nan (any case), each with an optional '-'.
    /// </summary>
    private double ReadFloat(FieldDescriptor field)
    {
        var (negative, t, at) = ReadSign();
        double value;
        if (t.Kind == TokenKind.Identifier)
        {
            string id = t.Text.ToLowerInvariant();
            if (id == "inf" || id == "infinity") value = double.PositiveInfinity;
            else if (id == "nan") value = double.NaN;
            else throw NotAFloat(field, t, at, negative);
        }
        else if (t.Kind == TokenKind.Number)
        {
            if (!TryParseFloat(t.Text, out value)) throw NotAFloat(field, t, at, negative);
        }
        else
        {
            throw NotAFloat(field, t, at, negative);
        }
        return negative ? -value : value;
    }

    private ProtoTextException NotAFloat(FieldDescriptor field, Token t, Token at, bool negative)
    {
        return _lex.Error(at, $"expected a number for field \"{field.Name}\" ({TypeName(field)}), got {t.Describe(negative)}");
    }

    private static bool TryParseFloat(string s, out double value)
    {
        value = 0;
        // As protoc: integers must be decimal here (is "010" eight or ten?); hex is refused too.
        if (IsHexOrOctalInteger(s)) return false;
        if (s.EndsWith('f') || s.EndsWith('F')) s = s[..^1];
        // digits [. digits] [e [sign] digits], with at least one digit before the exponent.
        int i = 0, mantissaDigits = 0;
        while (i < s.Length && char.IsAsciiDigit(s[i])) { i++; mantissaDigits++; }
        if (i < s.Length && s[i] == '.')
        {
            i++;
            while (i < s.Length && char.IsAsciiDigit(s[i])) { i++; mantissaDigits++; }
        }
        if (mantissaDigits == 0) return false;
        if (i < s.Length && (s[i] == 'e' || s[i] == 'E'))
        {
            i++;
            if (i < s.Length && (s[i] == '+' || s[i] == '-')) i++;
            int expDigits = 0;
            while (i < s.Length && char.IsAsciiDigit(s[i])) { i++; expDigits++; }
            if (expDigits == 0) return false;
        }
        if (i != s.Length) return false;
        return double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out value);
    }

    /// <summary>"0x1F" or "017": spellings that are integers in another base.</summary>
    private static bool IsHexOrOctalInteger(string s)
    {
        if (s.Length < 2 || s[0] != '0') return false;
        return s[1] == 'x' || s[1] == 'X' || s.All(char.IsAsciiDigit);
    }

    // ---------------------------------------------------------------- bool, strings, enums

    private bool ReadBool(FieldDescriptor field)
    {
        var t = _lex.Next();
        switch (t.Text)
        {
            case "true" or "True" or "t" when t.Kind == TokenKind.Identifier: return true;
            case "false" or "False" or "f" when t.Kind == TokenKind.Identifier: return false;
            case "1" when t.Kind == TokenKind.Number: return true;
            case "0" when t.Kind == TokenKind.Number: return false;
        }
        throw _lex.Error(t, $"expected true or false for field \"{field.Name}\" (bool), got {t.Describe()}");
    }

    /// <summary>Reads one or more adjacent string literals ("a" 'b' "c") and joins their bytes.</summary>
    private byte[] ReadBytes(FieldDescriptor field, out Token first)
    {
        first = _lex.Next();
        if (first.Kind != TokenKind.String)
            throw _lex.Error(first, $"expected a quoted string for field \"{field.Name}\" ({TypeName(field)}), got {first.Describe()}");
        if (_lex.Peek().Kind != TokenKind.String) return first.Bytes!;
        var all = new List<byte>(first.Bytes!);
        while (_lex.Peek().Kind == TokenKind.String) all.AddRange(_lex.Next().Bytes!);
        return all.ToArray();
    }

    private string ReadString(FieldDescriptor field)
    {
        var bytes = ReadBytes(field, out var first);
        try
        {
            return StrictUtf8.GetString(bytes);
        }
        catch (DecoderFallbackException)
        {
            throw _lex.Error(first, $"string for field \"{field.Name}\" is not valid UTF-8 (use a bytes field for binary data)");
        }
    }

    /// <summary>An enum value by name (exact case) or by number.</summary>
    private object ReadEnum(FieldDescriptor field)
    {
        var type = field.EnumType;
        var t = _lex.Peek();
        EnumValueDescriptor? value;
        if (t.Kind == TokenKind.Identifier)
        {
            _lex.Next();
            value = type.FindValueByName(t.Text);
            if (value == null)
                throw _lex.Error(t, $"unknown enum value \"{t.Text}\" for field \"{field.Name}\"; expected one of {ValueNames(type)}");
        }
        else if (t.Kind == TokenKind.Number || t.Is('-'))
        {
            int number = (int)ReadInteger(field, int.MinValue, int.MaxValue);
            value = type.FindValueByNumber(number);
            if (value == null)
                throw _lex.Error(t, $"unknown enum number {number} for field \"{field.Name}\"; expected one of {ValueNames(type)}");
        }
        else
        {
            _lex.Next();
            throw _lex.Error(t, $"expected an enum value for field \"{field.Name}\" ({type.Name}), got {t.Describe()}; expected one of {ValueNames(type)}");
        }
        return type.ClrType != null ? Enum.ToObject(type.ClrType, value.Number) : value.Number;
    }

    private static string ValueNames(EnumDescriptor type) => string.Join(", ", type.Values.Select(v => v.Name));
}
