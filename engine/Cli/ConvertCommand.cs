using System.Text;
using Engine.Core;
using Engine.IO;
using Engine.Layers;
using Engine.Proto;
using Google.Protobuf;

namespace Engine.Cli;

/// <summary>
/// `engine convert --idx IMAGES LABELS OUTPUT_DB`: an MNIST-format pair of IDX files (gzipped or
/// not) into a new LMDB, as Caffe's convert_mnist_data: keys "%08d" (the record's index), values
/// Datum records (channels 1, height, width, the pixel bytes, the label).
/// </summary>
internal static class ConvertCommand
{
    private static readonly Args.Flag[] Flags =
    [
        new("idx", "convert MNIST-format IDX files: IMAGES LABELS OUTPUT_DB", IsBool: true),
        new("backend", "the output database kind (only lmdb)", Default: "lmdb"),
    ];

    private const int CommitEvery = 1000;

    public static int Run(string[] argv)
    {
        var (flags, positional) = SplitPositional(argv, Flags);
        var args = new Args("convert", Flags, flags);
        if (args.Help)
        {
            Console.WriteLine(Args.Usage("convert", "--idx IMAGES LABELS OUTPUT_DB",
                "Writes a new LMDB of Datum records (keys %08d), as Caffe's convert_mnist_data.", Flags));
            return 0;
        }
        CheckBackend(args);
        if (!args.GetBool("idx"))
            throw new EngineException("engine convert: give the input kind: --idx IMAGES LABELS OUTPUT_DB (CIFAR and image lists are not converted yet)");
        if (positional.Count != 3)
            throw new EngineException($"engine convert --idx expects IMAGES LABELS OUTPUT_DB, got {positional.Count} argument(s)");
        string imagesPath = positional[0], labelsPath = positional[1], output = positional[2];
        EngineException Fail(string m) => new($"engine convert: {m}");
        var (dims, images) = IdxFile.Read(imagesPath, IdxFile.ImagesMagic, "images", Fail);
        var (ldims, labels) = IdxFile.Read(labelsPath, IdxFile.LabelsMagic, "labels", Fail);
        int n = dims[0], h = dims[1], w = dims[2];
        if (ldims[0] != n)
            throw Fail($"images \"{imagesPath}\" has {n} images but labels \"{labelsPath}\" has {ldims[0]} labels");
        using var db = new LmdbWriter(output);
        int size = h * w;
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
        db.Commit();
        Log.Info($"Processed {n} files: {n} records {h}×{w} written to LMDB {output}", "convert");
        return 0;
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
