using Engine.Core;
using Engine.IO;
using Engine.Proto;

namespace Engine.Tests.Support;

/// <summary>Helpers shared by the tests: blobs with random data, fixtures, paths.</summary>
public static class TestData
{
    /// <summary>A blob filled with uniform values in [lo, hi) from a fixed seed.</summary>
    public static Blob Random(string name, int[] shape, ulong seed = 1701, float lo = -1, float hi = 1)
    {
        var b = new Blob(name, shape);
        var rng = new Rng(seed);
        var d = b.Data;
        for (int i = 0; i < d.Length; i++) d[i] = lo + (hi - lo) * rng.NextFloat();
        return b;
    }

    public static Blob FromValues(string name, int[] shape, params float[] values)
    {
        var b = new Blob(name, shape);
        values.CopyTo(b.Data);
        return b;
    }

    /// <summary>Folder of committed fixtures (tests/fixtures, copied beside the test assembly).</summary>
    public static string FixturePath(string relative) => Path.Combine(AppContext.BaseDirectory, "fixtures", relative);

    /// <summary>Read a fixture .npy into a blob.</summary>
    public static Blob Fixture(string relative, string name = "")
    {
        var (shape, data) = NpyFile.Read(FixturePath(relative));
        var b = new Blob(name, shape);
        data.CopyTo(b.Data);
        return b;
    }

    /// <summary>The repository root (the folder holding Engine.sln).</summary>
    public static string RepoRoot
    {
        get
        {
            var dir = new DirectoryInfo(AppContext.BaseDirectory);
            while (dir != null && !File.Exists(Path.Combine(dir.FullName, "Engine.sln"))) dir = dir.Parent;
            return dir?.FullName ?? throw new InvalidOperationException("repository root not found");
        }
    }

    /// <summary>../shared/models/caffe beside the repository, or null when absent.</summary>
    public static string? SharedModels
    {
        get
        {
            var p = Path.GetFullPath(Path.Combine(RepoRoot, "..", "shared", "models", "caffe"));
            return Directory.Exists(p) ? p : null;
        }
    }

    /// <summary>A LayerParameter parsed from prototxt text, e.g. Layer("name: 'c' type: 'Convolution' ...").</summary>
    public static LayerParameter Layer(string prototxt, Phase phase = Phase.Train)
    {
        var p = Engine.Text.ProtoText.Parse<LayerParameter>(prototxt);
        p.Phase = phase;
        return p;
    }
}
