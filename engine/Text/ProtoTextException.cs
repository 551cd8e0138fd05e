namespace Engine.Text;

/// <summary>
/// A mistake in a protobuf text file: where it is (file, 1-based line and column) and what was
/// expected there. The message reads "file:line:col: what was expected", the form compilers use,
/// so editors can jump to the spot.
/// </summary>
public sealed class ProtoTextException : EngineException
{
    public ProtoTextException(string file, int line, int column, string reason)
        : base($"{file}:{line}:{column}: {reason}")
    {
        File = file;
        Line = line;
        Column = column;
        Reason = reason;
    }

    /// <summary>The file name given to the parser ("&lt;string&gt;" for text parsed from memory).</summary>
    public string File { get; }

    /// <summary>1-based line of the offending token.</summary>
    public int Line { get; }

    /// <summary>1-based column (in UTF-16 characters; a tab counts as one) of the offending token.</summary>
    public int Column { get; }

    /// <summary>The message without the location prefix.</summary>
    public string Reason { get; }
}
