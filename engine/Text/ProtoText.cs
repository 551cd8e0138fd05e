using Google.Protobuf;

namespace Engine.Text;

/// <summary>
/// Protobuf text format (.prototxt) for any generated message: Google.Protobuf for C# has
/// JSON but no text format. Reading follows protoc's grammar (comments, <c>field: value</c>,
/// <c>field { … }</c> or <c>&lt; … &gt;</c>, lists <c>[a, b]</c>, enums by name or number,
/// C-escaped and concatenated strings, hex/octal integers, inf/nan); errors are
/// <see cref="ProtoTextException"/>s with file:line:col. Writing follows Caffe's style.
/// <code>
/// var net = ProtoText.ParseFile&lt;NetParameter&gt;("lenet.prototxt");
/// File.WriteAllText("copy.prototxt", ProtoText.Print(net));
/// </code>
/// </summary>
public static class ProtoText
{
    /// <summary>Parses <paramref name="text"/> as a new <typeparamref name="T"/>.</summary>
    /// <param name="fileName">Named in error messages.</param>
    public static T Parse<T>(string text, string fileName = "<string>") where T : IMessage<T>, new()
    {
        var message = new T();
        Merge(message, text, fileName);
        return message;
    }

    /// <summary>Reads and parses a text file; a missing file is an <see cref="EngineException"/> "path: no such file".</summary>
    public static T ParseFile<T>(string path) where T : IMessage<T>, new()
    {
        Engine.IO.InputFile.MustExist(path);
        string text;
        try
        {
            text = File.ReadAllText(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new EngineException($"{path}: cannot read ({e.Message})", e);
        }
        return Parse<T>(text, path);
    }

    /// <summary>
    /// Parses <paramref name="text"/> into an existing message: scalars given in the text replace
    /// what the message holds (the last of repeated settings wins), repeated fields are appended
    /// to, and message fields are merged into.
    /// </summary>
    public static void Merge(IMessage message, string text, string fileName = "<string>")
    {
        ArgumentNullException.ThrowIfNull(message);
        ArgumentNullException.ThrowIfNull(text);
        new TextParser(text, fileName).ParseInto(message);
    }

    /// <summary>
    /// The message as text, Caffe-style: 2-space indent, <c>name {</c> … <c>}</c>, enums by name,
    /// strings double-quoted and escaped, floats in their shortest round-trip form, only set
    /// fields, in declaration order. Parsing the result gives an equal message.
    /// </summary>
    public static string Print(IMessage message)
    {
        ArgumentNullException.ThrowIfNull(message);
        return TextPrinter.Print(message);
    }
}
