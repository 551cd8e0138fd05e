using Engine.Core;
using Engine.IO;
using Engine.Proto;

namespace Engine.Cli;

/// <summary>
/// `engine compute-mean DB OUTPUT.binaryproto`: the mean of every record of an LMDB of Datum
/// records, written as a 1×C×H×W BlobProto with the legacy num/channels/height/width set, as
/// Caffe's compute_image_mean (usable as transform_param.mean_file).
/// </summary>
internal static class ComputeMeanCommand
{
    private static readonly Args.Flag[] Flags =
    [
        new("backend", "the database kind (only lmdb)", Default: "lmdb"),
    ];

    public static int Run(string[] argv)
    {
        var (flags, positional) = ConvertCommand.SplitPositional(argv, Flags);
        var args = new Args("compute-mean", Flags, flags);
        if (args.Help)
        {
            Console.WriteLine(Args.Usage("compute-mean", "DB OUTPUT.binaryproto",
                "Writes the mean record of an LMDB as a BlobProto, as Caffe's compute_image_mean.", Flags));
            return 0;
        }
        ConvertCommand.CheckBackend(args);
        if (positional.Count != 2)
            throw new EngineException($"engine compute-mean expects DB OUTPUT.binaryproto, got {positional.Count} argument(s)");
        string source = positional[0], output = positional[1];
        EngineException Fail(string m) => new($"engine compute-mean: {m}");
        LmdbReader db;
        try { db = new LmdbReader(source); }
        catch (EngineException e) { throw Fail(e.Message); }
        using (db)
        {
            if (db.Count == 0) throw Fail($"\"{source}\": the LMDB holds no records");
            var decoder = new Engine.Layers.EncodedDatum(null, null, Fail);
            double[]? sum = null;
            int c = 0, h = 0, w = 0;
            for (long i = 0; i < db.Count; i++)
            {
                var (keyBytes, value) = db.Next();
                string key = System.Text.Encoding.UTF8.GetString(keyBytes);
                Datum d;
                try { d = Datum.Parser.ParseFrom(value); }
                catch (Google.Protobuf.InvalidProtocolBufferException e) { throw Fail($"\"{source}\": record \"{key}\" is not a Datum ({e.Message})"); }
                if (d.Encoded)
                {
                    // Decoded with the image's own channels, as compute_image_mean does.
                    var (dc, dh, dw, planar) = decoder.Decode(d, $"\"{source}\": record \"{key}\"");
                    d = new Datum { Channels = dc, Height = dh, Width = dw, Data = Google.Protobuf.ByteString.CopyFrom(planar) };
                }
                if (sum == null)
                {
                    (c, h, w) = (d.Channels, d.Height, d.Width);
                    if (c <= 0 || h <= 0 || w <= 0) throw Fail($"\"{source}\": record \"{key}\" has shape {c}×{h}×{w}");
                    sum = new double[(long)c * h * w];
                }
                else if (d.Channels != c || d.Height != h || d.Width != w)
                    throw Fail($"\"{source}\": record \"{key}\" is {d.Channels}×{d.Height}×{d.Width}, but the first record is {c}×{h}×{w}");
                if (d.Data.Length == sum.Length)
                {
                    var bytes = d.Data.Span;
                    for (int k = 0; k < sum.Length; k++) sum[k] += bytes[k];
                }
                else if (d.Data.Length == 0 && d.FloatData.Count == sum.Length)
                {
                    for (int k = 0; k < sum.Length; k++) sum[k] += d.FloatData[k];
                }
                else
                    throw Fail($"\"{source}\": record \"{key}\" holds {d.Data.Length} data bytes and {d.FloatData.Count} float_data values for shape {c}×{h}×{w}");
            }
            var blob = new BlobProto { Num = 1, Channels = c, Height = h, Width = w };
            foreach (var s in sum!) blob.Data.Add((float)(s / db.Count));
            WeightsFile.WriteAtomic(output, blob);
            Log.Info($"Mean of {db.Count} records {c}×{h}×{w} written to {output}", "compute_mean");
            int plane = h * w;
            for (int ch = 0; ch < c; ch++)
            {
                double m = 0;
                for (int k = 0; k < plane; k++) m += sum[ch * plane + k];
                Log.Info($"mean_value channel [{ch}]: {Log.Num(m / plane / db.Count)}", "compute_mean");
            }
        }
        return 0;
    }
}
