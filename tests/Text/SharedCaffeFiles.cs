using NUnit.Framework;

namespace Engine.Tests.Text;

/// <summary>
/// Finds the real Caffe prototxt files (shared/models/caffe): walking up from the test
/// assembly's folder, the first folder holding shared/models/caffe, or the repository root
/// (the folder with Engine.sln) whose sibling ../shared/models/caffe exists.
/// </summary>
public static class SharedCaffeFiles
{
    public static string? Root { get; } = Find();

    private static string? Find()
    {
        string start;
        try
        {
            start = TestContext.CurrentContext.TestDirectory;
        }
        catch (Exception)
        {
            start = AppContext.BaseDirectory;
        }
        for (var dir = new DirectoryInfo(start); dir != null; dir = dir.Parent)
        {
            var here = Path.Combine(dir.FullName, "shared", "models", "caffe");
            if (Directory.Exists(here)) return here;
            if (File.Exists(Path.Combine(dir.FullName, "Engine.sln")))
            {
                var sibling = Path.GetFullPath(Path.Combine(dir.FullName, "..", "shared", "models", "caffe"));
                if (Directory.Exists(sibling)) return sibling;
            }
        }
        return null;
    }

    /// <summary>The root, or Assert.Ignore when the files are not there.</summary>
    public static string RequireRoot() => Root ?? IgnoreMissing();

    private static string IgnoreMissing()
    {
        Assert.Ignore("shared/models/caffe not found beside the repository");
        return "";
    }

    /// <summary>A file under the root (ignored test when absent).</summary>
    public static string Get(string relative)
    {
        var p = Path.Combine(RequireRoot(), relative);
        if (!File.Exists(p)) Assert.Ignore($"{relative} not found in shared/models/caffe");
        return p;
    }

    /// <summary>Every *.prototxt, relative to the root, sorted; empty when the folder is absent.</summary>
    public static IEnumerable<string> AllPrototxt()
    {
        if (Root == null) return [];
        return Directory.GetFiles(Root, "*.prototxt", SearchOption.AllDirectories)
            .Select(f => Path.GetRelativePath(Root, f).Replace('\\', '/'))
            .Order(StringComparer.Ordinal)
            .ToList();
    }

    public static bool IsSolver(string relative) => Path.GetFileName(relative).Contains("solver", StringComparison.Ordinal);
}
