namespace Engine.IO;

/// <summary>The check every reader makes before opening a file the user named.</summary>
public static class InputFile
{
    /// <summary>
    /// Throws "PATH: no such file" for a missing file; a relative path also says which directory it
    /// was looked up from (paths in nets and solvers are relative to the current directory, as in Caffe).
    /// </summary>
    public static void MustExist(string path)
    {
        if (File.Exists(path)) return;
        if (Directory.Exists(path)) throw new EngineException($"{path}: is a directory, expected a file");
        throw new EngineException($"{path}: no such file{WhereRelative(path)}");
    }

    /// <summary>" (relative to the current directory, DIR)" for a relative path, else "".</summary>
    public static string WhereRelative(string path) =>
        Path.IsPathRooted(path) ? "" : $" (relative paths are read from the current directory, {Directory.GetCurrentDirectory()})";
}
