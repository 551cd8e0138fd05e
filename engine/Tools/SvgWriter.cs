using System.Globalization;
using System.Text;

namespace Engine.Tools;

/// <summary>A small SVG builder: shapes and text appended in order, numbers in invariant culture.</summary>
public sealed class SvgWriter(double width, double height)
{
    private readonly StringBuilder _body = new();

    public double Width { get; } = width;
    public double Height { get; } = height;

    public static string F(double v) => v.ToString("0.##", CultureInfo.InvariantCulture);

    public static string Escape(string s) => s.Replace("&", "&amp;").Replace("<", "&lt;").Replace(">", "&gt;").Replace("\"", "&quot;");

    public void Raw(string element) => _body.AppendLine(element);

    public void Line(double x1, double y1, double x2, double y2, string stroke, double width = 1, string extra = "") =>
        _body.AppendLine($"<line x1=\"{F(x1)}\" y1=\"{F(y1)}\" x2=\"{F(x2)}\" y2=\"{F(y2)}\" stroke=\"{stroke}\" stroke-width=\"{F(width)}\"{extra}/>");

    public void Rect(double x, double y, double w, double h, string fill, string stroke, double rx = 0, string extra = "") =>
        _body.AppendLine($"<rect x=\"{F(x)}\" y=\"{F(y)}\" width=\"{F(w)}\" height=\"{F(h)}\" rx=\"{F(rx)}\" fill=\"{fill}\" stroke=\"{stroke}\"{extra}/>");

    public void Ellipse(double cx, double cy, double rx, double ry, string fill, string stroke, string extra = "") =>
        _body.AppendLine($"<ellipse cx=\"{F(cx)}\" cy=\"{F(cy)}\" rx=\"{F(rx)}\" ry=\"{F(ry)}\" fill=\"{fill}\" stroke=\"{stroke}\"{extra}/>");

    public void Text(double x, double y, string text, double size = 12, string anchor = "start", string extra = "") =>
        _body.AppendLine($"<text x=\"{F(x)}\" y=\"{F(y)}\" font-size=\"{F(size)}\" text-anchor=\"{anchor}\"{extra}>{Escape(text)}</text>");

    public void Polyline(IEnumerable<(double x, double y)> points, string stroke, string extra = "") =>
        _body.AppendLine($"<polyline fill=\"none\" stroke=\"{stroke}\" stroke-width=\"1.5\" points=\"{string.Join(' ', points.Select(p => $"{F(p.x)},{F(p.y)}"))}\"{extra}/>");

    public void Open(string element) => _body.AppendLine($"<{element}>");

    public void Close(string name) => _body.AppendLine($"</{name}>");

    /// <summary>Write <paramref name="text"/> to <paramref name="path"/> atomically (temporary file, flush, rename).</summary>
    public static void WriteFileAtomic(string path, string text)
    {
        var full = Path.GetFullPath(path);
        var dir = Path.GetDirectoryName(full)!;
        var tmp = Path.Combine(dir, $".{Path.GetFileName(full)}.{Environment.ProcessId}.tmp");
        try
        {
            using (var stream = new FileStream(tmp, FileMode.Create, FileAccess.Write, FileShare.None))
            {
                var bytes = new UTF8Encoding(false).GetBytes(text);
                stream.Write(bytes);
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

    public override string ToString() =>
        $"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{F(Width)}\" height=\"{F(Height)}\" " +
        $"viewBox=\"0 0 {F(Width)} {F(Height)}\" font-family=\"sans-serif\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n{_body}</svg>\n";

    /// <summary>Round tick values (1, 2, 5 × 10^k steps) covering [lo, hi].</summary>
    public static List<double> Ticks(double lo, double hi, int target = 6)
    {
        if (!(hi > lo)) return [lo];
        double raw = (hi - lo) / target;
        double mag = Math.Pow(10, Math.Floor(Math.Log10(raw)));
        double step = new[] { 1.0, 2, 5, 10 }.Select(s => s * mag).First(s => s >= raw);
        var ticks = new List<double>();
        for (double t = Math.Ceiling(lo / step) * step; t <= hi + step * 1e-9; t += step)
            ticks.Add(Math.Abs(t) < step * 1e-9 ? 0 : t);
        return ticks;
    }

    public static string TickLabel(double v)
    {
        double a = Math.Abs(v);
        return a != 0 && (a >= 1e6 || a < 1e-3) ? v.ToString("0.##e0", CultureInfo.InvariantCulture) : v.ToString("0.####", CultureInfo.InvariantCulture);
    }
}
