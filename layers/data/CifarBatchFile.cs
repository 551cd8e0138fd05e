namespace Engine.Layers;

/// <summary>
/// CIFAR-10's binary batches (data_batch_1.bin … data_batch_5.bin, test_batch.bin): a file is a
/// sequence of 3,073-byte records, each one label byte (0–9) followed by the 32×32 image as three
/// 1,024-byte planes (red, green, blue), rows top to bottom. There is no header; a file's size
/// must be a whole number of records.
/// </summary>
public static class CifarBatchFile
{
    public const int Channels = 3, Height = 32, Width = 32;
    public const int ImageBytes = Channels * Height * Width;
    public const int RecordBytes = 1 + ImageBytes;
    public const int Classes = 10;

    /// <summary>
    /// Records in the batch file at <paramref name="path"/>, from its size; an error when it is
    /// missing, empty, or ends inside a record. <paramref name="what"/> names the file in errors.
    /// </summary>
    public static int CountRecords(string path, string what, Func<string, EngineException> error)
    {
        if (!File.Exists(path))
            throw error(Directory.Exists(path)
                ? $"{what} \"{path}\" is a directory; give a CIFAR-10 batch file (e.g. data_batch_1.bin)"
                : $"{what} \"{path}\": no such file{Engine.IO.InputFile.WhereRelative(path)}");
        long length = new FileInfo(path).Length;
        if (length == 0) throw error($"{what} \"{path}\": the CIFAR-10 batch file is empty");
        long whole = length / RecordBytes, rest = length % RecordBytes;
        if (rest != 0)
            throw error($"{what} \"{path}\": record {whole} is truncated: {rest} of its {RecordBytes} bytes (a CIFAR-10 batch holds 1 label byte + {ImageBytes} pixel bytes per record)");
        if (whole > int.MaxValue / RecordBytes) throw error($"{what} \"{path}\": {whole} records are more than one file may hold here");
        return (int)whole;
    }

    /// <summary>
    /// Read one batch file: its images (N×3072, each R, G, B planes) into <paramref name="images"/>
    /// at record <paramref name="at"/> and its labels into <paramref name="labels"/> likewise.
    /// Labels must be 0–9. Returns the number of records read.
    /// </summary>
    public static int ReadInto(string path, string what, byte[] images, byte[] labels, int at, Func<string, EngineException> error)
    {
        int n = CountRecords(path, what, error);
        if ((long)(at + n) * ImageBytes > images.Length || at + n > labels.Length)
            throw new ArgumentException("the buffers are too small for the batch file");
        try
        {
            using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
            var record = new byte[RecordBytes];
            for (int i = 0; i < n; i++)
            {
                int got = file.ReadAtLeast(record, RecordBytes, throwOnEndOfStream: false);
                if (got < RecordBytes)
                    throw error($"{what} \"{path}\": record {i} is truncated: {got} of its {RecordBytes} bytes (the file shrank while being read)");
                if (record[0] >= Classes)
                    throw error($"{what} \"{path}\": record {i} has label {record[0]}, but CIFAR-10 labels are 0 to {Classes - 1} (a CIFAR-100 file has 2 label bytes per record and is not read)");
                labels[at + i] = record[0];
                record.AsSpan(1).CopyTo(images.AsSpan((at + i) * ImageBytes, ImageBytes));
            }
        }
        catch (IOException e)
        {
            throw error($"{what} \"{path}\": cannot read it ({e.Message})");
        }
        catch (UnauthorizedAccessException e)
        {
            throw error($"{what} \"{path}\": cannot open it ({e.Message})");
        }
        return n;
    }

    /// <summary>Read several batch files, concatenated in the order given: images N×3072 and labels N.</summary>
    public static (byte[] images, byte[] labels) Read(IReadOnlyList<string> paths, string what, Func<string, EngineException> error)
    {
        long total = 0;
        foreach (var p in paths) total += CountRecords(p, what, error);
        if (total * ImageBytes > Array.MaxLength)
            throw error($"{what}: {total} CIFAR-10 records are more than one array holds ({Array.MaxLength / ImageBytes} at most)");
        var images = new byte[total * ImageBytes];
        var labels = new byte[total];
        int at = 0;
        foreach (var p in paths) at += ReadInto(p, what, images, labels, at, error);
        return (images, labels);
    }

    /// <summary>
    /// The batch files a Data layer's <c>source</c> names: a path ending in <c>.bin</c> is one
    /// batch file; any other path is a text file listing batch files, one per line (blank lines
    /// and lines starting with <c>#</c> skipped), relative paths taken from the list's folder.
    /// </summary>
    public static IReadOnlyList<string> Sources(string source, Func<string, EngineException> error)
    {
        if (source.EndsWith(".bin", StringComparison.OrdinalIgnoreCase)) return [source];
        if (!File.Exists(source))
            throw error(Directory.Exists(source)
                ? $"source \"{source}\" is a directory; backend CIFAR reads a batch file (*.bin) or a text file listing batch files"
                : $"source \"{source}\": no such file{Engine.IO.InputFile.WhereRelative(source)}");
        byte[] bytes;
        try { bytes = File.ReadAllBytes(source); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw error($"source \"{source}\": cannot read it ({e.Message})");
        }
        if (Array.IndexOf(bytes, (byte)0) >= 0 || bytes.Take(4096).Any(b => b < 9 || b is > 13 and < 32))
            throw error($"source \"{source}\" is not a text file; backend CIFAR takes a batch file whose name ends in .bin, or a text file listing batch files one per line");
        string folder = Path.GetDirectoryName(source) ?? "";
        var files = new List<string>();
        var lines = System.Text.Encoding.UTF8.GetString(bytes).Split('\n');
        for (int i = 0; i < lines.Length; i++)
        {
            string line = lines[i].Trim();
            if (line.Length == 0 || line.StartsWith('#')) continue;
            string file = Path.IsPathRooted(line) ? line : Path.Combine(folder, line);
            if (!File.Exists(file))
                throw error($"source \"{source}\" line {i + 1}: batch file \"{file}\" does not exist");
            files.Add(file);
        }
        if (files.Count == 0) throw error($"source \"{source}\" lists no batch files");
        return files;
    }
}
