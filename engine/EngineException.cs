namespace Engine;

/// <summary>
/// A mistake in what the user wrote or gave us (a file, a flag, a shape). The CLI prints its
/// message as one line on stderr and exits non-zero, without a stack trace. Engine bugs use
/// ordinary exceptions and keep their stack trace.
/// </summary>
public class EngineException : Exception
{
    public EngineException(string message) : base(message) { }
    public EngineException(string message, Exception inner) : base(message, inner) { }
}
