using System.IO.Compression;

namespace Engine.Tests.Support;

/// <summary>Writes small MNIST-format IDX files for tests.</summary>
public static class IdxFiles
{
    /// <summary>Images (n×h×w, uint8) and labels; returns the two paths.</summary>
    public static (string images, string labels) Write(string dir, byte[,,] images, byte[] labels, bool gzip = false)
    {
        Directory.CreateDirectory(dir);
        int n = images.GetLength(0), h = images.GetLength(1), w = images.GetLength(2);
        var img = new List<byte>();
        img.AddRange(BigEndian(0x00000803)); img.AddRange(BigEndian(n)); img.AddRange(BigEndian(h)); img.AddRange(BigEndian(w));
        for (int i = 0; i < n; i++) for (int y = 0; y < h; y++) for (int x = 0; x < w; x++) img.Add(images[i, y, x]);
        var lab = new List<byte>();
        lab.AddRange(BigEndian(0x00000801)); lab.AddRange(BigEndian(labels.Length)); lab.AddRange(labels);
        var ext = gzip ? ".gz" : "";
        var ip = Path.Combine(dir, "images-idx3-ubyte" + ext);
        var lp = Path.Combine(dir, "labels-idx1-ubyte" + ext);
        Save(ip, img.ToArray(), gzip);
        Save(lp, lab.ToArray(), gzip);
        return (ip, lp);
    }

    /// <summary>n random images of h×w whose label is determined by their brightness (a learnable task).</summary>
    public static (string images, string labels) WriteLearnable(string dir, int n, int h, int w, int classes, ulong seed = 7)
    {
        var rng = new Engine.Core.Rng(seed);
        var images = new byte[n, h, w];
        var labels = new byte[n];
        for (int i = 0; i < n; i++)
        {
            int c = rng.NextInt(classes);
            labels[i] = (byte)c;
            for (int y = 0; y < h; y++)
                for (int x = 0; x < w; x++)
                    images[i, y, x] = (byte)Math.Clamp(c * 255 / Math.Max(1, classes - 1) + rng.NextInt(60) - 30, 0, 255);
        }
        return Write(dir, images, labels);
    }

    private static byte[] BigEndian(int v) => [(byte)(v >> 24), (byte)(v >> 16), (byte)(v >> 8), (byte)v];

    private static void Save(string path, byte[] bytes, bool gzip)
    {
        if (!gzip) { File.WriteAllBytes(path, bytes); return; }
        using var f = File.Create(path);
        using var gz = new GZipStream(f, CompressionLevel.Fastest);
        gz.Write(bytes);
    }
}
