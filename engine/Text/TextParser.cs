using System.Collections;
using Google.Protobuf;
using Google.Protobuf.Reflection;

namespace Engine.Text;

/// <summary>
/// Reads protobuf text format into a message, driven by its descriptor, so one parser serves
/// every message type. The structure (fields, nesting, lists, separators) is here; turning a
/// token into a field's value is in TextValues.cs.
/// </summary>
internal sealed partial class TextParser
{
    private readonly TextLexer _lex;

    public TextParser(string text, string file) => _lex = new TextLexer(text, file);

    /// <summary>Merges the whole text into <paramref name="message"/>.</summary>
    public void ParseInto(IMessage message)
    {
        ParseFields(message, null, default, "");
    }

    /// <summary>
    /// Reads fields until the closing symbol (or the end of the text at the top level).
    /// <paramref name="opened"/> and <paramref name="owner"/> describe the '{' that started this
    /// message, for the message when it is never closed.
    /// </summary>
    private void ParseFields(IMessage message, char? closing, Token opened, string owner)
    {
        var descriptor = message.Descriptor;
        while (true)
        {
            var t = _lex.Peek();
            if (t.Kind == TokenKind.End)
            {
                if (closing == null) return;
                throw _lex.Error(t, $"expected '{closing}' to close \"{owner}\" (opened at {opened.Line}:{opened.Column}), got end of file");
            }
            if (closing != null && t.Is(closing.Value))
            {
                _lex.Next();
                return;
            }
            if (t.Is('}') || t.Is('>'))
            {
                throw closing == null
                    ? _lex.Error(t, $"unexpected '{t.Text}' with no open message")
                    : _lex.Error(t, $"expected '{closing}' to close \"{owner}\" (opened at {opened.Line}:{opened.Column}), got '{t.Text}'");
            }
            if (t.Kind != TokenKind.Identifier)
                throw _lex.Error(t, $"expected a field name of {descriptor.Name}, got {t.Describe()}");
            _lex.Next();
            var field = descriptor.FindFieldByName(t.Text) ?? throw UnknownField(t, descriptor);
            if (field.IsMap) throw _lex.Error(t, $"map field \"{field.Name}\" is not supported by this text-format reader");
            if (field.FieldType == FieldType.Message || field.FieldType == FieldType.Group) ParseMessageField(message, field, t);
            else ParseScalarField(message, field, t);
            // Fields may be separated by ',' or ';'.
            var sep = _lex.Peek();
            if (sep.Is(',') || sep.Is(';')) _lex.Next();
        }
    }

    private ProtoTextException UnknownField(Token name, MessageDescriptor descriptor)
    {
        var names = descriptor.Fields.InDeclarationOrder().Select(f => f.Name).ToList();
        var close = Suggestions.Closest(name.Text, names);
        string hint = close != null
            ? $"did you mean \"{close}\"?"
            : "valid fields are " + string.Join(", ", names);
        return _lex.Error(name, $"unknown field \"{name.Text}\" in {descriptor.Name}; {hint}");
    }

    // ---------------------------------------------------------------- message fields

    private void ParseMessageField(IMessage message, FieldDescriptor field, Token name)
    {
        bool colon = false;
        if (_lex.Peek().Is(':'))
        {
            _lex.Next();
            colon = true;
        }
        var t = _lex.Peek();
        if (t.Is('{') || t.Is('<'))
        {
            ParseOneMessage(message, field);
            return;
        }
        if (t.Is('['))
        {
            if (!field.IsRepeated) throw _lex.Error(t, $"field \"{field.Name}\" is not repeated; a list [...] is not allowed");
            ParseList(field, () => ParseOneMessage(message, field));
            return;
        }
        throw colon
            ? _lex.Error(t, $"expected '{{' or '<' to start message field \"{field.Name}\", got {t.Describe()}")
            : _lex.Error(t, $"expected ':' or '{{' after field name \"{name.Text}\"");
    }

    /// <summary>
    /// Reads one <c>{ … }</c> or <c>&lt; … &gt;</c>. A repeated field gets a new element; a
    /// singular one is merged into what it already holds (as binary protobuf merges messages).
    /// </summary>
    private void ParseOneMessage(IMessage message, FieldDescriptor field)
    {
        var open = _lex.Next();
        char closing;
        if (open.Is('{')) closing = '}';
        else if (open.Is('<')) closing = '>';
        else throw _lex.Error(open, $"expected '{{' or '<' to start a \"{field.Name}\" message, got {open.Describe()}");

        IMessage target;
        if (field.IsRepeated)
        {
            target = NewMessage(field);
            ParseFields(target, closing, open, field.Name);
            ((IList)field.Accessor.GetValue(message)).Add(target);
            return;
        }
        if (field.Accessor.GetValue(message) is IMessage existing) target = existing;
        else
        {
            target = NewMessage(field);
            field.Accessor.SetValue(message, target);
        }
        ParseFields(target, closing, open, field.Name);
    }

    private static IMessage NewMessage(FieldDescriptor field)
    {
        var type = field.MessageType.ClrType
            ?? throw new NotSupportedException($"message type {field.MessageType.FullName} has no generated class");
        return (IMessage)Activator.CreateInstance(type)!;
    }

    // ---------------------------------------------------------------- scalar fields

    private void ParseScalarField(IMessage message, FieldDescriptor field, Token name)
    {
        var t = _lex.Peek();
        if (!t.Is(':'))
            throw _lex.Error(t, $"expected ':' after field name \"{name.Text}\", got {t.Describe()}");
        _lex.Next();
        if (_lex.Peek().Is('['))
        {
            if (!field.IsRepeated) throw _lex.Error(_lex.Peek(), $"field \"{field.Name}\" is not repeated; a list [...] is not allowed");
            var list = (IList)field.Accessor.GetValue(message);
            ParseList(field, () => list.Add(ReadValue(field)));
            return;
        }
        var value = ReadValue(field);
        if (field.IsRepeated) ((IList)field.Accessor.GetValue(message)).Add(value);
        else field.Accessor.SetValue(message, value); // given twice: the last one wins
    }

    /// <summary>Reads <c>[ item, item, … ]</c> (possibly empty), calling <paramref name="item"/> for each.</summary>
    private void ParseList(FieldDescriptor field, Action item)
    {
        var open = _lex.Next(); // '['
        if (_lex.Peek().Is(']'))
        {
            _lex.Next();
            return;
        }
        while (true)
        {
            item();
            var t = _lex.Next();
            if (t.Is(']')) return;
            if (!t.Is(','))
            {
                throw t.Kind == TokenKind.End
                    ? _lex.Error(t, $"expected ']' to close the list of \"{field.Name}\" (opened at {open.Line}:{open.Column}), got end of file")
                    : _lex.Error(t, $"expected ',' or ']' in the list of \"{field.Name}\", got {t.Describe()}");
            }
        }
    }
}
