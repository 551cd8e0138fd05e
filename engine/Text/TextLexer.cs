using System.Text;

namespace Engine.Text;

internal enum TokenKind
{
    /// <summary>A name: [A-Za-z_][A-Za-z0-9_]* (field names, enum values, true/false, inf, nan).</summary>
    Identifier,

    /// <summary>Anything starting with a digit (or '.' then a digit), checked later against the field type.</summary>
    Number,

    /// <summary>One quoted literal; <see cref="Token.Bytes"/> holds its decoded value.</summary>
    String,

    /// <summary>One punctuation character: : { } &lt; &gt; [ ] , ; - and anything else stray.</summary>
    Symbol,

    End,
}

/// <summary>A token with its 1-based position. <c>Text</c> is the source spelling (for messages).</summary>
internal readonly record struct Token(TokenKind Kind, string Text, int Line, int Column, byte[]? Bytes = null)
{
    public bool Is(char symbol) => Kind == TokenKind.Symbol && Text.Length == 1 && Text[0] == symbol;

    /// <summary>How the token reads in an error message: "end of file", string "…", or the text in quotes.</summary>
    public string Describe(bool negative = false) => Kind switch
    {
        TokenKind.End => negative ? "\"-\" then end of file" : "end of file",
        TokenKind.String => (negative ? "\"-\" then string " : "string ") + Text,
        _ => "\"" + (negative ? "-" : "") + Text + "\"",
    };
}

/// <summary>
/// Splits protobuf text format into tokens. Skips whitespace and <c>#</c> comments; decodes
/// string literals (C escapes, UTF-8 for non-ASCII characters) into bytes. Numbers are kept
/// as text: whether "010" or "1.5f" is valid depends on the field it is given to.
/// </summary>
internal sealed class TextLexer
{
    private readonly string _text;
    private readonly string _file;
    private int _pos;
    private int _line = 1;
    private int _lineStart;
    private Token? _peeked;

    public TextLexer(string text, string file)
    {
        _text = text;
        _file = file;
        // A byte-order mark at the start of a file is not text.
        if (_text.Length > 0 && _text[0] == '\uFEFF') _pos = _lineStart = 1;
    }

    public string File => _file;

    public Token Peek() => _peeked ??= Scan();

    public Token Next()
    {
        var t = Peek();
        _peeked = null;
        return t;
    }

    public ProtoTextException Error(Token at, string reason) => new(_file, at.Line, at.Column, reason);

    private ProtoTextException ErrorHere(int pos, string reason) => new(_file, _line, pos - _lineStart + 1, reason);

    private Token Scan()
    {
        SkipSpaceAndComments();
        int line = _line, col = _pos - _lineStart + 1;
        if (_pos >= _text.Length) return new Token(TokenKind.End, "", line, col);
        char c = _text[_pos];
        int start = _pos;
        if (IsLetter(c))
        {
            while (_pos < _text.Length && IsLetterOrDigit(_text[_pos])) _pos++;
            return new Token(TokenKind.Identifier, _text[start.._pos], line, col);
        }
        if (IsDigit(c) || (c == '.' && _pos + 1 < _text.Length && IsDigit(_text[_pos + 1])))
        {
            ScanNumber();
            return new Token(TokenKind.Number, _text[start.._pos], line, col);
        }
        if (c == '"' || c == '\'')
        {
            var bytes = ScanString(c);
            return new Token(TokenKind.String, _text[start.._pos], line, col, bytes);
        }
        if (char.IsHighSurrogate(c) && _pos + 1 < _text.Length && char.IsLowSurrogate(_text[_pos + 1]))
        {
            _pos += 2;
            throw new ProtoTextException(_file, line, col, $"unexpected character '{_text[start.._pos]}'");
        }
        _pos++;
        if (":{}<>[],;-".IndexOf(c) < 0)
        {
            string shown = char.IsControl(c) ? $"\\x{(int)c:X2}" : c.ToString();
            throw new ProtoTextException(_file, line, col, $"unexpected character '{shown}'");
        }
        return new Token(TokenKind.Symbol, c.ToString(), line, col);
    }

    private void SkipSpaceAndComments()
    {
        while (_pos < _text.Length)
        {
            char c = _text[_pos];
            if (c == '\n')
            {
                _pos++;
                _line++;
                _lineStart = _pos;
            }
            else if (c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v')
            {
                _pos++;
            }
            else if (c == '#')
            {
                while (_pos < _text.Length && _text[_pos] != '\n') _pos++;
            }
            else
            {
                return;
            }
        }
    }

    /// <summary>
    /// Consumes a number-like run: digits, letters, '_', '.', and a sign right after the exponent
    /// letter of a decimal number ("1e-5"). Garbage such as "12abc" stays one token so the error
    /// names all of it.
    /// </summary>
    private void ScanNumber()
    {
        bool hex = _text[_pos] == '0' && _pos + 1 < _text.Length && (_text[_pos + 1] == 'x' || _text[_pos + 1] == 'X');
        if (hex) _pos += 2;
        while (_pos < _text.Length)
        {
            char c = _text[_pos];
            if (IsLetterOrDigit(c) || c == '.')
            {
                _pos++;
                if (!hex && (c == 'e' || c == 'E') && _pos < _text.Length && (_text[_pos] == '+' || _text[_pos] == '-')) _pos++;
            }
            else
            {
                return;
            }
        }
    }

    /// <summary>Decodes one quoted literal starting at the opening quote; returns its bytes.</summary>
    private byte[] ScanString(char quote)
    {
        int open = _pos;
        _pos++;
        var bytes = new List<byte>();
        while (true)
        {
            if (_pos >= _text.Length || _text[_pos] == '\n') throw ErrorHere(open, "unterminated string");
            char c = _text[_pos];
            if (c == quote)
            {
                _pos++;
                return bytes.ToArray();
            }
            if (c == '\\')
            {
                ScanEscape(bytes, open);
                continue;
            }
            int n = char.IsHighSurrogate(c) && _pos + 1 < _text.Length && char.IsLowSurrogate(_text[_pos + 1]) ? 2 : 1;
            if (c < 0x80) bytes.Add((byte)c);
            else bytes.AddRange(Encoding.UTF8.GetBytes(_text.Substring(_pos, n)));
            _pos += n;
        }
    }

    private void ScanEscape(List<byte> bytes, int open)
    {
        int at = _pos;
        _pos++; // the backslash
        if (_pos >= _text.Length || _text[_pos] == '\n') throw ErrorHere(open, "unterminated string");
        char e = _text[_pos++];
        switch (e)
        {
            case 'n': bytes.Add((byte)'\n'); return;
            case 't': bytes.Add((byte)'\t'); return;
            case 'r': bytes.Add((byte)'\r'); return;
            case 'a': bytes.Add(0x07); return;
            case 'b': bytes.Add(0x08); return;
            case 'f': bytes.Add(0x0C); return;
            case 'v': bytes.Add(0x0B); return;
            case '\\': bytes.Add((byte)'\\'); return;
            case '\'': bytes.Add((byte)'\''); return;
            case '"': bytes.Add((byte)'"'); return;
            case '?': bytes.Add((byte)'?'); return;
        }
        if (e >= '0' && e <= '7')
        {
            int value = e - '0';
            for (int i = 0; i < 2 && _pos < _text.Length && _text[_pos] >= '0' && _text[_pos] <= '7'; i++)
                value = value * 8 + (_text[_pos++] - '0');
            if (value > 255) throw ErrorHere(at, $"octal escape \"{_text[at.._pos]}\" is above \\377");
            bytes.Add((byte)value);
            return;
        }
        if (e == 'x' || e == 'X')
        {
            int value = 0, digits = 0;
            while (digits < 2 && _pos < _text.Length && IsHexDigit(_text[_pos]))
            {
                value = value * 16 + HexValue(_text[_pos++]);
                digits++;
            }
            if (digits == 0) throw ErrorHere(at, "expected hex digits after \"\\x\" in string");
            bytes.Add((byte)value);
            return;
        }
        if (e == 'u' || e == 'U')
        {
            int want = e == 'u' ? 4 : 8;
            int code = 0;
            for (int i = 0; i < want; i++)
            {
                if (_pos >= _text.Length || !IsHexDigit(_text[_pos]))
                    throw ErrorHere(at, $"expected {want} hex digits after \"\\{e}\" in string");
                code = code * 16 + HexValue(_text[_pos++]);
            }
            if (code > 0x10FFFF || (code >= 0xD800 && code <= 0xDFFF))
                throw ErrorHere(at, $"\"{_text[at.._pos]}\" is not a Unicode scalar value");
            bytes.AddRange(Encoding.UTF8.GetBytes(char.ConvertFromUtf32(code)));
            return;
        }
        throw ErrorHere(at, $"invalid escape sequence \"\\{e}\" in string");
    }

    private static bool IsLetter(char c) => (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';

    private static bool IsDigit(char c) => c >= '0' && c <= '9';

    private static bool IsLetterOrDigit(char c) => IsLetter(c) || IsDigit(c);

    private static bool IsHexDigit(char c) => IsDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');

    private static int HexValue(char c) => IsDigit(c) ? c - '0' : (c | 0x20) - 'a' + 10;
}
