using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using Engine.Core;
using Engine.IO;
using Engine.Layers;
using Engine.Proto;
using Google.Protobuf;

namespace Engine.Cli;

/// <summary>
/// `engine convert`: datasets into a new LMDB of Caffe Datum records, like Caffe's tools.
/// <list type="bullet">
/// <item>`--idx IMAGES LABELS OUTPUT_DB`: an MNIST-format pair of IDX files (gzipped or not), as
/// convert_mnist_data: keys "%08d", Datum channels 1, height, width, the pixel bytes, the label.</item>
/// <item>`--cifar FILE… OUTPUT_DB`: CIFAR-10 binary batches, concatenated in the order given, as
/// convert_cifar_data: keys "%05d" (more digits past 99,999 records), Datum 3×32×32 raw bytes.</item>
/// <item>`--list LIST [--root DIR] OUTPUT_DB`: an image list of "path label" lines, as
/// convert_imageset: keys "%08d_path", Datum raw planar B, G, R (or gray) bytes, or with
/// `--encoded` the image file's bytes.</item>
/// </list>
/// The database is written under a temporary name beside OUTPUT_DB and renamed when complete, so
/// a failed conversion leaves nothing at OUTPUT_DB.
/// </summary>
internal static class ConvertCommand
{
    private static readonly Args.Flag[] Flags =
    [
        new("idx", "convert MNIST-format IDX files: IMAGES LABELS OUTPUT_DB", IsBool: true),
        new("cifar", "convert CIFAR-10 binary batches: FILE... OUTPUT_DB (records concatenated in the order given)", IsBool: true),
        new("list", "convert an image list of \"path label\" lines (PNG, PPM, PGM images): --list LIST OUTPUT_DB"),
        new("root", "--list: the folder the list's paths are relative to (default: the current folder)"),
        new("shuffle", "--list: shuffle the lines (reproducibly, from --seed)", IsBool: true),
        new("seed", "--list --shuffle: the shuffle's seed", Default: "0"),
        new("resize-height", "--list: resize every image to this height (with --resize-width; bilinear, as OpenCV)", Default: "0"),
        new("resize-width", "--list: resize every image to this width (with --resize-height)", Default: "0"),
        new("gray", "--list: store one gray channel instead of B, G, R", IsBool: true),
        new("encoded", "--list: store the image file's bytes (encoded: true) instead of raw pixels", IsBool: true),
        new("encode-type", "--list --encoded: png, ppm or pgm; images are re-encoded when it differs from the file's extension (default: the file's own)"),
        new("check-size", "--list: every image must have the first one's size (after any resize)", IsBool: true),
        new("backend", "the output database kind (only lmdb)", Default: "lmdb"),
    ];

    private const int CommitEvery = 1000;

    public static int Run(string[] argv)
    {
        var (flags, positional) = SplitPositional(argv, Flags);
        var args = new Args("convert", Flags, flags);
        if (args.Help)
        {
            Console.WriteLine(Args.Usage("convert", "--idx IMAGES LABELS OUTPUT_DB | --cifar FILE... OUTPUT_DB | --list LIST [--root DIR] OUTPUT_DB",
                "Writes a new LMDB of Datum records, as Caffe's convert_mnist_data, convert_cifar_data and convert_imageset.", Flags));
            return 0;
        }
        CheckBackend(args);
        bool idx = args.GetBool("idx"), cifar = args.GetBool("cifar"), list = args.Get("list") != null;
        int kinds = (idx ? 1 : 0) + (cifar ? 1 : 0) + (list ? 1 : 0);
        if (kinds != 1)
            throw new EngineException(kinds == 0
                ? "engine convert: give the input kind: --idx IMAGES LABELS OUTPUT_DB, --cifar FILE... OUTPUT_DB or --list LIST OUTPUT_DB"
                : "engine convert: give one input kind: --idx, --cifar or --list");
        if (!list)
            foreach (var f in new[] { "root", "shuffle", "resize-height", "resize-width", "gray", "encoded", "encode-type", "check-size" })
                if (argv.Any(a => a.StartsWith('-') && a.TrimStart('-').Replace('_', '-').Split('=')[0] == f))
                    throw new EngineException($"engine convert: --{f} is for --list image lists");
        if (cifar) return ConvertCifar(positional);
        if (list) return ConvertList(args, args.Get("list")!, positional);
        return ConvertIdx(positional);
    }

    private static EngineException Fail(string m) => new($"engine convert: {m}");

    private static int ConvertIdx(List<string> positional)
    {
        if (positional.Count != 3)
            throw new EngineException($"engine convert --idx expects IMAGES LABELS OUTPUT_DB, got {positional.Count} argument(s)");
        string imagesPath = positional[0], labelsPath = positional[1], output = positional[2];
        var (dims, images) = IdxFile.Read(imagesPath, IdxFile.ImagesMagic, "images", Fail);
        var (ldims, labels) = IdxFile.Read(labelsPath, IdxFile.LabelsMagic, "labels", Fail);
        int n = dims[0], h = dims[1], w = dims[2];
        if (ldims[0] != n)
            throw Fail($"images \"{imagesPath}\" has {n} images but labels \"{labelsPath}\" has {ldims[0]} labels");
        int size = h * w;
        WriteDb(output, db =>
        {
            for (int i = 0; i < n; i++)
            {
                var datum = new Datum
                {
                    Channels = 1,
                    Height = h,
                    Width = w,
                    Data = ByteString.CopyFrom(images, i * size, size),
                    Label = labels[i],
                };
                db.Put(Encoding.ASCII.GetBytes(i.ToString("D8")), datum.ToByteArray());
                if ((i + 1) % CommitEvery == 0)
                {
                    db.Commit();
                    Log.Info($"Processed {i + 1} files.", "convert");
                }
            }
        });
        Log.Info($"Processed {n} files: {n} records {h}×{w} written to LMDB {output}", "convert");
        return 0;
    }

    private static int ConvertCifar(List<string> positional)
    {
        if (positional.Count < 2)
            throw new EngineException($"engine convert --cifar expects FILE... OUTPUT_DB (one or more batch files, then the database), got {positional.Count} argument(s)");
        var files = positional.Take(positional.Count - 1).ToList();
        string output = positional[^1];
        // Every file is checked (whole records) before anything is written.
        var counts = files.Select(f => CifarBatchFile.CountRecords(f, "batch file", Fail)).ToList();
        long total = counts.Sum(c => (long)c);
        if (total > int.MaxValue) throw Fail($"{total} records are more than one database is written with here");
        string format = "D" + Math.Max(5, (total - 1).ToString(CultureInfo.InvariantCulture).Length);
        int key = 0;
        WriteDb(output, db =>
        {
            for (int f = 0; f < files.Count; f++)
            {
                var images = new byte[(long)counts[f] * CifarBatchFile.ImageBytes];
                var labels = new byte[counts[f]];
                CifarBatchFile.ReadInto(files[f], "batch file", images, labels, 0, Fail);
                for (int i = 0; i < counts[f]; i++, key++)
                {
                    var datum = new Datum
                    {
                        Channels = CifarBatchFile.Channels,
                        Height = CifarBatchFile.Height,
                        Width = CifarBatchFile.Width,
                        Data = ByteString.CopyFrom(images, i * CifarBatchFile.ImageBytes, CifarBatchFile.ImageBytes),
                        Label = labels[i],
                    };
                    db.Put(Encoding.ASCII.GetBytes(key.ToString(format, CultureInfo.InvariantCulture)), datum.ToByteArray());
                    if ((key + 1) % CommitEvery == 0) db.Commit();
                }
                Log.Info($"Batch file {files[f]}: {counts[f]} records", "convert");
            }
        });
        Log.Info($"Processed {total} records 3×32×32 from {files.Count} batch file(s) into LMDB {output}", "convert");
        return 0;
    }

    private static int ConvertList(Args args, string listPath, List<string> positional)
    {
        if (positional.Count != 1)
            throw new EngineException($"engine convert --list LIST expects one more argument, OUTPUT_DB, got {positional.Count}");
        string output = positional[0];
        string root = args.Get("root") ?? "";
        int resizeH = args.GetInt("resize-height", 0), resizeW = args.GetInt("resize-width", 0);
        if (resizeH < 0 || resizeW < 0 || (resizeH == 0) != (resizeW == 0))
            throw Fail($"give both --resize-height and --resize-width as positive sizes, or neither (got {resizeH} and {resizeW})");
        bool resize = resizeH > 0, gray = args.GetBool("gray"), encoded = args.GetBool("encoded"), checkSize = args.GetBool("check-size");
        string? encodeType = args.Get("encode-type")?.ToLowerInvariant().TrimStart('.');
        if (encodeType is { Length: > 0 } && !encoded) throw Fail("--encode-type needs --encoded");
        if (encodeType is { Length: > 0 } and not ("png" or "ppm" or "pgm" or "pnm"))
            throw Fail($"--encode-type {encodeType}: this build encodes png, ppm or pgm");
        int channels = gray ? 1 : 3;

        var lines = ReadList(listPath);
        if (args.GetBool("shuffle"))
        {
            var seedText = args.Get("seed") ?? "0";
            if (!ulong.TryParse(seedText, NumberStyles.None, CultureInfo.InvariantCulture, out ulong seed))
                throw Fail($"--seed expects a non-negative integer, got \"{seedText}\"");
            new Rng(seed).Shuffle(CollectionsMarshal.AsSpan(lines));
        }

        (int c, int h, int w)? first = null;
        string firstFile = "";
        WriteDb(output, db =>
        {
            for (int i = 0; i < lines.Count; i++)
            {
                var (path, label, line) = lines[i];
                string file = root.Length > 0 ? Path.Combine(root, path) : path;
                string where = $"list \"{listPath}\" line {line}: image \"{file}\"";
                byte[] bytes;
                try { bytes = File.ReadAllBytes(file); }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    throw Fail(File.Exists(file) ? $"{where} cannot be read: {e.Message}" : $"{where} does not exist{InputFile.WhereRelative(file)}");
                }
                DecodedImage image;
                try { image = ImageDecoders.Decode(bytes); }
                catch (UnsupportedImageException e) { throw Fail($"{where} has an unsupported format: {e.Message}"); }
                catch (CorruptImageException e) { throw Fail($"{where} is corrupt: {e.Message}"); }
                var planar = ImageDataLayer.ToPlanar(image, channels);
                int ih = image.Height, iw = image.Width;
                if (resize && (ih != resizeH || iw != resizeW))
                    planar = ImageDataLayer.Resize(planar, channels, ih, iw, resizeH, resizeW);
                if (resize) (ih, iw) = (resizeH, resizeW);
                if (first == null) { first = (channels, ih, iw); firstFile = file; }
                else if (checkSize && first != (channels, ih, iw))
                    throw Fail($"{where} is {channels}×{ih}×{iw}, but the first image \"{firstFile}\" is {first.Value.c}×{first.Value.h}×{first.Value.w} (--check-size)");

                Datum datum;
                if (encoded)
                {
                    string ext = Path.GetExtension(file).TrimStart('.').ToLowerInvariant();
                    string want = encodeType is { Length: > 0 } ? encodeType : ext;
                    bool keepFile = !resize && image.Channels == channels && want == ext;
                    byte[] data = keepFile ? bytes
                        : want == "png" ? ImageEncoders.Png(planar, channels, ih, iw)
                        : want is "ppm" or "pgm" or "pnm" ? ImageEncoders.Pnm(planar, channels, ih, iw)
                        : throw Fail($"{where} must be re-encoded ({(resize ? "resized" : "its channels change")}) but its extension \".{ext}\" is not an encoding this build writes; give --encode-type png");
                    datum = new Datum { Data = ByteString.CopyFrom(data), Label = label, Encoded = true };
                }
                else
                    datum = new Datum { Channels = channels, Height = ih, Width = iw, Data = ByteString.CopyFrom(planar), Label = label };
                db.Put(Encoding.UTF8.GetBytes(i.ToString("D8", CultureInfo.InvariantCulture) + "_" + path), datum.ToByteArray());
                if ((i + 1) % CommitEvery == 0)
                {
                    db.Commit();
                    Log.Info($"Processed {i + 1} files.", "convert");
                }
            }
        });
        Log.Info($"Processed {lines.Count} files: {(encoded ? "encoded" : $"{(gray ? "gray" : "B, G, R")}")} images" +
                 (resize ? $" resized to {resizeH}×{resizeW}" : "") + $" written to LMDB {output}", "convert");
        return 0;
    }

    // The list's "path label" lines (split at the last space or tab, as Caffe does), with their line numbers.
    private static List<(string path, int label, int line)> ReadList(string listPath)
    {
        string[] text;
        try { text = File.ReadAllLines(listPath); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw Fail(File.Exists(listPath) ? $"cannot read the list \"{listPath}\": {e.Message}" : $"the list \"{listPath}\" does not exist{InputFile.WhereRelative(listPath)}");
        }
        var lines = new List<(string, int, int)>();
        for (int i = 0; i < text.Length; i++)
        {
            string line = text[i].Trim();
            if (line.Length == 0) continue;
            int space = line.LastIndexOfAny([' ', '\t']);
            if (space < 0) throw Fail($"list \"{listPath}\" line {i + 1}: \"{line}\" has no label; each line is \"path label\"");
            string labelText = line[(space + 1)..];
            if (!int.TryParse(labelText, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out int label))
                throw Fail($"list \"{listPath}\" line {i + 1}: label \"{labelText}\" is not an integer");
            lines.Add((line[..space].TrimEnd(), label, i + 1));
        }
        if (lines.Count == 0) throw Fail($"the list \"{listPath}\" has no images");
        return lines;
    }

    /// <summary>
    /// Write a new LMDB at <paramref name="output"/>: filled under a temporary name beside it,
    /// then renamed; on any error the temporary database is removed.
    /// </summary>
    internal static void WriteDb(string output, Action<LmdbWriter> fill)
    {
        if (Directory.Exists(output) || File.Exists(output))
            throw new EngineException($"\"{output}\" already exists; give a new path for the database");
        string full = Path.GetFullPath(output).TrimEnd(Path.DirectorySeparatorChar);
        string temp = $"{full}.partial-{Environment.ProcessId}";
        if (Directory.Exists(temp)) Directory.Delete(temp, recursive: true);
        try
        {
            using (var db = new LmdbWriter(temp))
            {
                fill(db);
                db.Commit();
            }
            Directory.Move(temp, full);
        }
        catch
        {
            if (Directory.Exists(temp)) Directory.Delete(temp, recursive: true);
            throw;
        }
    }

    internal static void CheckBackend(Args args)
    {
        var backend = args.Get("backend") ?? "lmdb";
        if (!backend.Equals("lmdb", StringComparison.OrdinalIgnoreCase))
            throw new EngineException($"engine {args.Command}: --backend {backend} is not supported; only lmdb");
    }

    /// <summary>Split argv into flags (with their values) and positional arguments.</summary>
    internal static (string[] flags, List<string> positional) SplitPositional(string[] argv, IReadOnlyList<Args.Flag> known)
    {
        var flags = new List<string>();
        var positional = new List<string>();
        for (int i = 0; i < argv.Length; i++)
        {
            var a = argv[i];
            if (!a.StartsWith('-') || a == "-") { positional.Add(a); continue; }
            flags.Add(a);
            var name = a.TrimStart('-').Replace('_', '-');
            if (name.Contains('=')) continue;
            var flag = known.FirstOrDefault(f => f.Name == name);
            if (flag != null && !flag.IsBool && i + 1 < argv.Length) flags.Add(argv[++i]);
        }
        return (flags.ToArray(), positional);
    }
}
