using System.Reflection;

namespace Engine.OpenCL;

/// <summary>The OpenCL C sources embedded in the assembly (engine/OpenCL/kernels/NAME.cl).</summary>
internal static class KernelSources
{
    private static readonly Dictionary<string, string> Loaded = new(StringComparer.Ordinal);

    /// <summary>The names of the embedded programs ("gemm", "elementwise", …).</summary>
    public static IEnumerable<string> Names =>
        typeof(KernelSources).Assembly.GetManifestResourceNames()
            .Where(n => n.StartsWith(Prefix, StringComparison.Ordinal) && n.EndsWith(".cl", StringComparison.Ordinal))
            .Select(n => n[Prefix.Length..^3]);

    private const string Prefix = "Engine.OpenCL.kernels.";

    public static string Get(string name)
    {
        lock (Loaded)
        {
            if (Loaded.TryGetValue(name, out var text)) return text;
            using var stream = typeof(KernelSources).Assembly.GetManifestResourceStream(Prefix + name + ".cl")
                ?? throw new InvalidOperationException($"no embedded OpenCL source \"{name}.cl\"; have {string.Join(", ", Names)}");
            using var reader = new StreamReader(stream);
            text = reader.ReadToEnd();
            Loaded[name] = text;
            return text;
        }
    }
}
