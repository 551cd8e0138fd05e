using System.Diagnostics;
using System.Globalization;

namespace Engine.Solvers;

/// <summary>
/// A live status line for training on a terminal: redrawn in place on stderr ("\r", then the
/// text, then ANSI erase-to-end-of-line) with the iteration, smoothed loss, learning rate,
/// iterations per second and ETA. Drawn only when stdout and stderr are terminals and the CI
/// environment variable is unset; with output redirected (logs, CI) it writes nothing, so Caffe
/// log lines stay as they are. Redraws at most ten times a second.
/// </summary>
public sealed class ProgressLine : IDisposable
{
    private readonly TextWriter? _out;
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly int _startIter;
    private long _lastDrawTicks = long.MinValue;
    private bool _drawn;

    /// <param name="startIter">The iteration the rate is measured from.</param>
    /// <param name="output">Where to draw; null draws nothing.</param>
    public ProgressLine(int startIter, TextWriter? output)
    {
        _startIter = startIter;
        _out = output;
    }

    /// <summary>A line on stderr when <see cref="ShouldDraw"/> says so for this process, else a silent one.</summary>
    public static ProgressLine ForConsole(int startIter) =>
        new(startIter, ShouldDraw(Console.IsOutputRedirected || Console.IsErrorRedirected, Environment.GetEnvironmentVariable("CI")) ? Console.Error : null);

    /// <summary>Draw only on a terminal, and not under CI (any value of CI, even empty, counts as set).</summary>
    public static bool ShouldDraw(bool outputRedirected, string? ciVariable) => !outputRedirected && ciVariable == null;

    public bool Enabled => _out != null;

    /// <summary>Redraw after iteration <paramref name="iter"/> (the count done so far).</summary>
    public void Update(int iter, int maxIter, float smoothedLoss, float rate)
    {
        if (_out == null) return;
        long now = _clock.ElapsedTicks;
        if (iter < maxIter && _lastDrawTicks != long.MinValue && now - _lastDrawTicks < Stopwatch.Frequency / 10) return;
        _lastDrawTicks = now;
        double secs = _clock.Elapsed.TotalSeconds;
        double perSec = secs > 0 ? (iter - _startIter) / secs : 0;
        _out.Write("\r" + Format(iter, maxIter, smoothedLoss, rate, perSec) + "\x1b[K");
        _out.Flush();
        _drawn = true;
    }

    /// <summary>Erase the line (before a log line is printed, and at the end).</summary>
    public void Clear()
    {
        if (_out == null || !_drawn) return;
        _out.Write("\r\x1b[K");
        _out.Flush();
        _drawn = false;
    }

    /// <summary>Erases the line (the end of a training run, or an error leaving it).</summary>
    public void Dispose() => Clear();

    /// <summary>The status text, e.g. "iter 120/1000 (12%)  loss 0.4312  lr 0.01  35.2 it/s  ETA 25s".</summary>
    public static string Format(int iter, int maxIter, float smoothedLoss, float rate, double itersPerSecond)
    {
        var inv = CultureInfo.InvariantCulture;
        string pct = maxIter > 0 ? $" ({Math.Min(100, 100L * iter / maxIter)}%)" : "";
        string eta = itersPerSecond > 0 && maxIter >= iter ? FormatEta((maxIter - iter) / itersPerSecond) : "--";
        return $"iter {iter}/{maxIter}{pct}  loss {smoothedLoss.ToString("G4", inv)}  lr {rate.ToString("G4", inv)}  " +
               $"{itersPerSecond.ToString(itersPerSecond >= 100 ? "F0" : "F1", inv)} it/s  ETA {eta}";
    }

    /// <summary>Remaining time as "7s", "3m05s", "2h01m" or "3d04h"; "--" when unknown.</summary>
    public static string FormatEta(double seconds)
    {
        if (double.IsNaN(seconds) || double.IsInfinity(seconds) || seconds < 0 || seconds > 100 * 86400.0) return "--";
        long s = (long)Math.Ceiling(seconds);
        if (s < 60) return $"{s}s";
        if (s < 3600) return $"{s / 60}m{s % 60:00}s";
        if (s < 86400) return $"{s / 3600}h{s % 3600 / 60:00}m";
        return $"{s / 86400}d{s % 86400 / 3600:00}h";
    }
}
