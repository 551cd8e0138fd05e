using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;

namespace Engine.OpenCL;

/// <summary>
/// Compiled programs on disk, so a second process start does not compile again. An entry is the
/// device binary (CL_PROGRAM_BINARIES) keyed by platform, device name, driver version, build
/// options and a hash of the source; its file begins with a magic line and the SHA-256 of the
/// binary, so a truncated or corrupt file is noticed before the driver sees it, and rebuilt.
/// Entries are written atomically (temporary name, flush, rename). The folder is
/// $ENGINE_OPENCL_CACHE, else $XDG_CACHE_HOME/engine/opencl, else ~/.cache/engine/opencl.
/// </summary>
public sealed class ProgramCache
{
    private static readonly byte[] Magic = Encoding.ASCII.GetBytes("engine-opencl-binary 1\n");

    /// <param name="directory">the cache folder, or null for no disk cache (always compile)</param>
    public ProgramCache(string? directory) => Directory = directory;

    /// <summary>The folder entries live in; null when the disk cache is off.</summary>
    public string? Directory { get; }

    /// <summary>The cache in <see cref="DefaultDirectory"/>.</summary>
    public static ProgramCache Default() => new(DefaultDirectory());

    public static string DefaultDirectory()
    {
        var env = Environment.GetEnvironmentVariable("ENGINE_OPENCL_CACHE");
        if (!string.IsNullOrEmpty(env)) return env;
        var xdg = Environment.GetEnvironmentVariable("XDG_CACHE_HOME");
        if (!string.IsNullOrEmpty(xdg)) return Path.Combine(xdg, "engine", "opencl");
        var home = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
        if (OperatingSystem.IsWindows() || string.IsNullOrEmpty(home))
            return Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.LocalApplicationData), "engine", "opencl");
        return Path.Combine(home, ".cache", "engine", "opencl");
    }

    /// <summary>The file that holds (or would hold) the program <paramref name="name"/> for this device, source and options.</summary>
    public string? EntryPath(OpenCLDeviceInfo device, string name, string source, string options)
    {
        if (Directory == null) return null;
        var key = string.Join("\n", device.Platform, device.PlatformVersion, device.Name, device.DriverVersion, options,
            Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(source))));
        var hash = Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(key)))[..24].ToLowerInvariant();
        return Path.Combine(Directory, $"{name}-{hash}.clbin");
    }

    internal OpenCLProgram Build(OpenCLContext context, string name, string source, string options)
    {
        var watch = Stopwatch.StartNew();
        var path = EntryPath(context.Device, name, source, options);
        if (path != null && Read(path) is { } binary)
        {
            nint loaded = context.TryBuildFromBinary(binary, options, $"{name}.cl");
            if (loaded != 0) return new OpenCLProgram(context, name, loaded, fromCache: true, watch.Elapsed);
        }
        nint program = context.BuildFromSource(source, options, $"{name}.cl");
        if (path != null) Write(path, context.Binary(program));
        return new OpenCLProgram(context, name, program, fromCache: false, watch.Elapsed);
    }

    /// <summary>The binary of an entry, or null when it is missing or fails its checksum.</summary>
    private static byte[]? Read(string path)
    {
        byte[] file;
        try { file = File.ReadAllBytes(path); }
        catch (IOException) { return null; }
        catch (UnauthorizedAccessException) { return null; }
        int head = Magic.Length + 32;
        if (file.Length <= head || !file.AsSpan(0, Magic.Length).SequenceEqual(Magic)) return null;
        var payload = file.AsSpan(head);
        if (!SHA256.HashData(payload).AsSpan().SequenceEqual(file.AsSpan(Magic.Length, 32))) return null;
        return payload.ToArray();
    }

    private static bool _warned;

    private static void Write(string path, byte[] binary)
    {
        if (binary.Length == 0) return; // the driver keeps no binary: nothing to cache
        var dir = Path.GetDirectoryName(path)!;
        var temp = Path.Combine(dir, $".{Path.GetFileName(path)}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp");
        try
        {
            System.IO.Directory.CreateDirectory(dir);
            using (var f = new FileStream(temp, FileMode.CreateNew, FileAccess.Write))
            {
                f.Write(Magic);
                f.Write(SHA256.HashData(binary));
                f.Write(binary);
                f.Flush(flushToDisk: true);
            }
            File.Move(temp, path, overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            try { File.Delete(temp); } catch (IOException) { } catch (UnauthorizedAccessException) { }
            if (!_warned)
            {
                _warned = true;
                Engine.Core.Log.Warning($"OpenCL program cache: cannot write {path} ({e.Message}); programs will be compiled again next time", "opencl");
            }
        }
    }
}
