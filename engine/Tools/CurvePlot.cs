namespace Engine.Tools;

/// <summary>Training curves as an SVG: one panel each for loss, learning rate, test outputs (and train outputs when logged).</summary>
public static class CurvePlot
{
    private static readonly string[] Colors = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];

    private const double PanelW = 860, PanelH = 300, Left = 80, Right = 200, Top = 40, Bottom = 50;

    public static string Render(TrainingLog log, string title)
    {
        var panels = new List<(string title, List<Series> series)>();
        if (log.Loss.Points.Count > 0) panels.Add(("training loss", [log.Loss]));
        if (log.LearningRate.Points.Count > 0) panels.Add(("learning rate", [log.LearningRate]));
        if (log.TestOutputs.Count > 0) panels.Add(("test outputs", log.TestOutputs));
        if (log.TrainOutputs.Count > 0) panels.Add(("train outputs", log.TrainOutputs));

        int minIt = int.MaxValue, maxIt = int.MinValue;
        foreach (var s in panels.SelectMany(p => p.series))
            foreach (var (it, _) in s.Points) { minIt = Math.Min(minIt, it); maxIt = Math.Max(maxIt, it); }
        if (minIt == int.MaxValue) { minIt = 0; maxIt = 1; }
        if (maxIt == minIt) maxIt = minIt + 1;

        var svg = new SvgWriter(PanelW, 30 + panels.Count * PanelH);
        svg.Text(PanelW / 2, 22, title, 15, "middle", " font-weight=\"bold\"");
        for (int p = 0; p < panels.Count; p++)
            Panel(svg, 30 + p * PanelH, panels[p].title, panels[p].series, minIt, maxIt);
        return svg.ToString();
    }

    private static void Panel(SvgWriter svg, double y0, string title, List<Series> series, int minIt, int maxIt)
    {
        double x1 = Left, x2 = PanelW - Right, yTop = y0 + Top, yBot = y0 + PanelH - Bottom;
        var finite = series.SelectMany(s => s.Points).Select(p => p.Value).Where(double.IsFinite).ToList();
        double lo = finite.Count > 0 ? finite.Min() : 0, hi = finite.Count > 0 ? finite.Max() : 1;
        if (hi == lo) { double pad = lo == 0 ? 1 : Math.Abs(lo) * 0.1; lo -= pad; hi += pad; }
        else { double pad = (hi - lo) * 0.05; lo -= pad; hi += pad; }
        double X(double it) => x1 + (it - minIt) / (maxIt - minIt) * (x2 - x1);
        double Y(double v) => yBot - (v - lo) / (hi - lo) * (yBot - yTop);

        svg.Open($"g class=\"panel\" data-title=\"{SvgWriter.Escape(title)}\"");
        svg.Text((x1 + x2) / 2, y0 + Top - 12, title, 13, "middle", " font-weight=\"bold\"");
        svg.Rect(x1, yTop, x2 - x1, yBot - yTop, "none", "#333");
        foreach (var t in SvgWriter.Ticks(minIt, maxIt))
        {
            svg.Line(X(t), yBot, X(t), yBot + 5, "#333");
            svg.Line(X(t), yTop, X(t), yBot, "#eee");
            svg.Text(X(t), yBot + 18, SvgWriter.TickLabel(t), 11, "middle", " class=\"xtick\"");
        }
        foreach (var t in SvgWriter.Ticks(lo, hi))
        {
            svg.Line(x1 - 5, Y(t), x1, Y(t), "#333");
            svg.Line(x1, Y(t), x2, Y(t), "#eee");
            svg.Text(x1 - 8, Y(t) + 4, SvgWriter.TickLabel(t), 11, "end", " class=\"ytick\"");
        }
        svg.Text((x1 + x2) / 2, yBot + 38, "iteration", 12, "middle");

        for (int i = 0; i < series.Count; i++)
        {
            var s = series[i];
            var color = Colors[i % Colors.Length];
            var pts = s.Points.Where(p => double.IsFinite(p.Value)).Select(p => (X(p.Iteration), Y(p.Value))).ToList();
            var data = string.Join(' ', s.Points.Select(p => $"{p.Iteration}:{Engine.Core.Log.Num(p.Value)}"));
            svg.Polyline(pts, color, $" class=\"series\" data-name=\"{SvgWriter.Escape(s.Name)}\" data-points=\"{data}\"");
            if (pts.Count == 1) svg.Ellipse(pts[0].Item1, pts[0].Item2, 2.5, 2.5, color, color);
            double ly = yTop + 10 + i * 18;
            svg.Line(x2 + 12, ly, x2 + 32, ly, color, 2);
            svg.Text(x2 + 38, ly + 4, s.Name, 12, "start", " class=\"legend\"");
        }
        svg.Close("g");
    }
}
