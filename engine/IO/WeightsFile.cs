using Engine.Proto;
using Engine.Upgrade;
using Google.Protobuf;

namespace Engine.IO;

/// <summary>
/// Binary protobuf files: .caffemodel (NetParameter), .solverstate (SolverState), .binaryproto
/// (BlobProto). Reads stream from disk with protobuf's size limit lifted (model-zoo files run to
/// hundreds of MB), with each blob's values read straight into an array of their final size
/// (<see cref="BlobStreamReader"/>), so a file's weights are held once; writes go to a temporary file that is flushed and renamed over the target,
/// so a crash never leaves a half-written file where a good one stood.
/// </summary>
public static class WeightsFile
{
    /// <summary>A .caffemodel: current (`layer`) or V1 (`layers`) nets, V1 upgraded (blobs kept).</summary>
    public static NetParameter ReadNet(string path)
    {
        var net = ReadStreaming(path, r => r.ReadNet(), nameof(NetParameter));
        return NetUpgrader.NeedsUpgrade(net) ? NetUpgrader.Upgrade(net, path) : net;
    }

    public static SolverState ReadSolverState(string path) => ReadStreaming(path, r => r.ReadSolverState(), nameof(SolverState));

    public static BlobProto ReadBlob(string path) => ReadStreaming(path, r => r.ReadBlobFile(), nameof(BlobProto));

    private static T ReadStreaming<T>(string path, Func<BlobStreamReader, T> read, string what)
    {
        InputFile.MustExist(path);
        try
        {
            using var reader = new BlobStreamReader(path);
            return read(reader);
        }
        catch (InvalidProtocolBufferException e)
        {
            throw new EngineException($"{path}: not a valid {what} file ({e.Message})");
        }
        catch (EngineException e) when (e.Message.StartsWith(path + ": not a valid protobuf file", StringComparison.Ordinal))
        {
            throw new EngineException(e.Message.Replace("not a valid protobuf file", $"not a valid {what} file"));
        }
    }

    /// <summary>Any message, with protobuf's generated parser (size limit lifted).</summary>
    public static T Read<T>(string path, MessageParser<T> parser) where T : IMessage<T>
    {
        InputFile.MustExist(path);
        try
        {
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20);
            using var coded = CodedInputStream.CreateWithLimits(stream, int.MaxValue, 100);
            return parser.ParseFrom(coded);
        }
        catch (InvalidProtocolBufferException e)
        {
            throw new EngineException($"{path}: not a valid {typeof(T).Name} file ({e.Message})");
        }
    }

    /// <summary>Write a message atomically: temp file in the same folder, flush to disk, rename.</summary>
    public static void WriteAtomic(string path, IMessage message)
    {
        var full = Path.GetFullPath(path);
        var dir = Path.GetDirectoryName(full)!;
        Directory.CreateDirectory(dir);
        var tmp = Path.Combine(dir, $".{Path.GetFileName(full)}.{Environment.ProcessId}.tmp");
        try
        {
            using (var stream = new FileStream(tmp, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20))
            {
                message.WriteTo(stream);
                stream.Flush(flushToDisk: true);
            }
            File.Move(tmp, full, overwrite: true);
        }
        catch
        {
            if (File.Exists(tmp)) File.Delete(tmp);
            throw;
        }
    }
}
