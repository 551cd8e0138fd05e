using System.Diagnostics;

namespace Engine.Core;

/// <summary>
/// Caffe-style log lines ("I1122 00:47:01.123456  4242 solver.cs] Iteration 100, loss = 0.3"),
/// so tools that parse Caffe logs keep working. Written to stdout; tests may silence or redirect.
/// </summary>
public static class Log
{
    private static readonly int Pid = Environment.ProcessId;

    public static TextWriter Writer { get; set; } = Console.Out;

    public static bool Quiet { get; set; }

    public static void Info(string message, string source = "engine") => Write('I', message, source);

    public static void Warning(string message, string source = "engine") => Write('W', message, source);

    private static void Write(char level, string message, string source)
    {
        if (Quiet) return;
        var now = DateTime.Now;
        lock (Writer)
        {
            Writer.WriteLine($"{level}{now:MMdd HH:mm:ss.ffffff} {Pid,6} {source}] {message}");
            Writer.Flush();
        }
    }

    /// <summary>Formats a float the way Caffe's logs print it (6 significant digits).</summary>
    public static string Num(double v)
    {
        // C++ streams write 4.32134e-07 where .NET writes 4.32134E-07; log parsers expect the former.
        var text = v.ToString("G6", System.Globalization.CultureInfo.InvariantCulture);
        return text.Contains('E') ? text.Replace("E", "e") : text;
    }

    public static string Bytes(long bytes) => bytes switch
    {
        >= 1L << 30 => $"{bytes / (double)(1L << 30):F2} GiB",
        >= 1L << 20 => $"{bytes / (double)(1L << 20):F2} MiB",
        >= 1L << 10 => $"{bytes / (double)(1L << 10):F1} KiB",
        _ => $"{bytes} B",
    };

    internal static Stopwatch StartTimer() => Stopwatch.StartNew();
}
