using System.Text;
using Engine.Proto;

namespace Engine.Tools;

/// <summary>
/// A filtered NetParameter as a graph of layers (boxes) and blobs (ellipses), written as Graphviz
/// DOT or laid out by itself as SVG: rows by topological depth, top to bottom. An in-place layer
/// (a top that is also a bottom) sits beside its blob, joined by a two-way edge.
/// </summary>
public sealed class NetGraph
{
    public sealed class Node
    {
        public required string Id { get; init; }
        public required bool IsLayer { get; init; }
        public required string[] Lines { get; init; }
        public int Depth { get; set; }
        public Node? Host { get; set; }
        public List<Node> Attached { get; } = [];
        public double X, Y, W, H;
    }

    public sealed record Edge(Node From, Node To, bool InPlace);

    public string Name { get; }
    public List<Node> Layers { get; } = [];
    public List<Node> Blobs { get; } = [];
    public List<Edge> Edges { get; } = [];

    public NetGraph(NetParameter net)
    {
        Name = net.Name;
        var blobs = new Dictionary<string, Node>(StringComparer.Ordinal);
        Node Blob(string name, int depth)
        {
            if (!blobs.TryGetValue(name, out var b))
            {
                blobs[name] = b = new Node { Id = "blob_" + name, IsLayer = false, Lines = [name], Depth = depth };
                Blobs.Add(b);
            }
            return b;
        }
        foreach (var input in net.Input) Blob(input, 0);
        foreach (var layer in net.Layer)
        {
            var inPlace = layer.Top.Where(t => layer.Bottom.Contains(t)).ToHashSet(StringComparer.Ordinal);
            var bottoms = layer.Bottom.Where(b => !inPlace.Contains(b)).Select(b => Blob(b, 0)).ToList();
            var node = new Node { Id = "layer_" + layer.Name, IsLayer = true, Lines = Label(layer) };
            Layers.Add(node);
            if (layer.Top.Count > 0 && inPlace.Count == layer.Top.Count && bottoms.Count == 0)
            {
                // Fully in place: drawn on its (first) blob.
                var host = Blob(layer.Top[0], 0);
                node.Host = host;
                node.Depth = host.Depth;
                host.Attached.Add(node);
            }
            else
            {
                int maxDepth = -1;
                foreach (var b in bottoms) maxDepth = Math.Max(maxDepth, b.Depth);
                foreach (var t in inPlace) maxDepth = Math.Max(maxDepth, Blob(t, 0).Depth);
                node.Depth = maxDepth + 1;
            }
            foreach (var b in bottoms) Edges.Add(new Edge(b, node, false));
            foreach (var t in layer.Top)
            {
                if (inPlace.Contains(t)) { Edges.Add(new Edge(Blob(t, 0), node, true)); continue; }
                bool fresh = !blobs.ContainsKey(t);
                var top = Blob(t, node.Depth + 1);
                if (!fresh) top.Depth = Math.Max(top.Depth, node.Depth + 1);
                Edges.Add(new Edge(node, top, false));
            }
        }
    }

    /// <summary>Name, type and the key parameters of a layer.</summary>
    public static string[] Label(LayerParameter l)
    {
        var lines = new List<string> { l.Name, l.Type };
        string K(IEnumerable<uint> v, bool hasH, uint h, uint w) =>
            hasH ? $"{h}x{w}" : string.Join("x", v);
        string? detail = null;
        if (l.ConvolutionParam is { } c && l.Type is "Convolution" or "Deconvolution")
        {
            var parts = new List<string> { $"num_output: {c.NumOutput}" };
            var k = K(c.KernelSize, c.HasKernelH, c.KernelH, c.KernelW);
            if (k.Length > 0) parts.Add($"kernel: {k}");
            if (c.Stride.Count > 0 || c.HasStrideH) parts.Add($"stride: {K(c.Stride, c.HasStrideH, c.StrideH, c.StrideW)}");
            if (c.Pad.Count > 0 || c.HasPadH) parts.Add($"pad: {K(c.Pad, c.HasPadH, c.PadH, c.PadW)}");
            if (c.HasGroup && c.Group != 1) parts.Add($"group: {c.Group}");
            detail = string.Join(", ", parts);
        }
        else if (l.InnerProductParam is { } ip && l.Type == "InnerProduct") detail = $"num_output: {ip.NumOutput}";
        else if (l.PoolingParam is { } p && l.Type == "Pooling")
        {
            var parts = new List<string> { p.Pool.ToString().ToUpperInvariant() };
            if (p.GlobalPooling) parts.Add("global");
            else
            {
                parts.Add($"kernel: {(p.HasKernelH ? $"{p.KernelH}x{p.KernelW}" : p.KernelSize.ToString())}");
                parts.Add($"stride: {(p.HasStrideH ? $"{p.StrideH}x{p.StrideW}" : p.Stride.ToString())}");
                if (p.Pad != 0) parts.Add($"pad: {p.Pad}");
            }
            detail = string.Join(", ", parts);
        }
        else if (l.LrnParam is { } lrn && l.Type == "LRN") detail = $"local_size: {lrn.LocalSize}";
        else if (l.DropoutParam is { } d && l.Type == "Dropout") detail = $"ratio: {d.DropoutRatio:0.###}";
        if (detail != null) lines.Add(detail);
        return [.. lines];
    }

    private static string Q(string s) => "\"" + s.Replace("\\", "\\\\").Replace("\"", "\\\"") + "\"";

    public string ToDot()
    {
        var sb = new StringBuilder();
        sb.AppendLine($"digraph {Q(string.IsNullOrEmpty(Name) ? "net" : Name)} {{");
        sb.AppendLine("  rankdir=TB;");
        sb.AppendLine("  node [fontname=\"Helvetica\", fontsize=10];");
        foreach (var l in Layers)
            sb.AppendLine($"  {Q(l.Id)} [shape=box, style=\"rounded,filled\", fillcolor=\"#dbe8f6\", label=\"{string.Join("\\n", l.Lines.Select(x => Q(x)[1..^1]))}\"];");
        foreach (var b in Blobs)
            sb.AppendLine($"  {Q(b.Id)} [shape=ellipse, style=filled, fillcolor=\"#f2f2f2\", label={Q(b.Lines[0])}];");
        foreach (var e in Edges)
            sb.AppendLine(e.InPlace
                ? $"  {Q(e.From.Id)} -> {Q(e.To.Id)} [dir=both, style=dashed, constraint=false];"
                : $"  {Q(e.From.Id)} -> {Q(e.To.Id)};");
        sb.AppendLine("}");
        return sb.ToString();
    }

    private const double CharW = 6.6, LineH = 14, PadX = 12, GapX = 24, GapY = 46, Margin = 20;

    public string ToSvg()
    {
        foreach (var n in Layers.Concat(Blobs))
        {
            n.W = n.Lines.Max(s => s.Length) * CharW + 2 * PadX;
            n.H = n.Lines.Length * LineH + 12;
            if (!n.IsLayer) { n.W += 16; n.H = Math.Max(n.H, 28); }
        }
        // Rows by depth; a blob and its in-place layers form one unit.
        var units = Layers.Where(l => l.Host == null).Concat(Blobs).ToList();
        var rows = units.GroupBy(u => u.Depth).OrderBy(g => g.Key).Select(g => g.ToList()).ToList();
        double UnitW(Node u) => u.W + u.Attached.Sum(a => a.W + 10);
        double UnitH(Node u) => u.Attached.Select(a => a.H).Append(u.H).Max();
        var parents = new Dictionary<Node, List<Node>>();
        foreach (var e in Edges.Where(e => !e.InPlace))
            (parents.TryGetValue(e.To, out var list) ? list : parents[e.To] = []).Add(e.From);
        double y = Margin, maxW = 0;
        var center = new Dictionary<Node, double>();
        foreach (var row in rows)
        {
            // Order by the mean x of parents (barycentre), keeping prototxt order for ties.
            var ordered = row.Select((u, i) => (u, i, key: parents.TryGetValue(u, out var ps) && ps.Count > 0 && ps.All(center.ContainsKey)
                    ? ps.Average(p => center[p]) : double.MaxValue))
                .OrderBy(t => t.key).ThenBy(t => t.i).Select(t => t.u).ToList();
            double h = ordered.Max(UnitH), x = Margin;
            foreach (var u in ordered)
            {
                u.X = x; u.Y = y + (h - u.H) / 2;
                double ax = x + u.W + 10;
                foreach (var a in u.Attached) { a.X = ax; a.Y = y + (h - a.H) / 2; ax += a.W + 10; }
                center[u] = x + u.W / 2;
                x += UnitW(u) + GapX;
            }
            maxW = Math.Max(maxW, x);
            y += h + GapY;
        }
        // Centre each row in the widest one.
        foreach (var row in rows)
        {
            double right = row.Max(u => u.Attached.Count > 0 ? u.Attached[^1].X + u.Attached[^1].W : u.X + u.W);
            double shift = Math.Max(0, (maxW - GapX - right) / 2);
            foreach (var u in row) { u.X += shift; foreach (var a in u.Attached) a.X += shift; }
        }
        var svg = new SvgWriter(Math.Max(maxW - GapX + Margin, 200), Math.Max(y - GapY + Margin, 100));
        svg.Raw("<defs><marker id=\"arrow\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"7\" markerHeight=\"7\" orient=\"auto-start-reverse\">" +
                "<path d=\"M0,0 L10,5 L0,10 z\" fill=\"#555\"/></marker></defs>");
        foreach (var e in Edges)
        {
            var (a, b) = (e.From, e.To);
            if (e.InPlace)
            {
                svg.Raw($"<path class=\"edge inplace\" data-from=\"{SvgWriter.Escape(a.Id)}\" data-to=\"{SvgWriter.Escape(b.Id)}\" d=\"M{SvgWriter.F(a.X + a.W)},{SvgWriter.F(a.Y + a.H / 2)} L{SvgWriter.F(b.X)},{SvgWriter.F(b.Y + b.H / 2)}\" " +
                        "stroke=\"#888\" stroke-dasharray=\"4 3\" fill=\"none\" marker-start=\"url(#arrow)\" marker-end=\"url(#arrow)\"/>");
                continue;
            }
            double x1 = a.X + a.W / 2, y1 = a.Y + a.H, x2 = b.X + b.W / 2, y2 = b.Y;
            if (y2 <= y1) { y1 = a.Y + a.H / 2; y2 = b.Y + b.H / 2; }
            double my = (y1 + y2) / 2;
            svg.Raw($"<path class=\"edge\" data-from=\"{SvgWriter.Escape(a.Id)}\" data-to=\"{SvgWriter.Escape(b.Id)}\" d=\"M{SvgWriter.F(x1)},{SvgWriter.F(y1)} C{SvgWriter.F(x1)},{SvgWriter.F(my)} {SvgWriter.F(x2)},{SvgWriter.F(my)} {SvgWriter.F(x2)},{SvgWriter.F(y2)}\" " +
                    "stroke=\"#555\" fill=\"none\" marker-end=\"url(#arrow)\"/>");
        }
        foreach (var n in Blobs)
        {
            svg.Open($"g class=\"blob\" id=\"{SvgWriter.Escape(n.Id)}\"");
            svg.Ellipse(n.X + n.W / 2, n.Y + n.H / 2, n.W / 2, n.H / 2, "#f2f2f2", "#666");
            svg.Text(n.X + n.W / 2, n.Y + n.H / 2 + 4, n.Lines[0], 11, "middle");
            svg.Close("g");
        }
        foreach (var n in Layers)
        {
            svg.Open($"g class=\"layer\" id=\"{SvgWriter.Escape(n.Id)}\"");
            svg.Rect(n.X, n.Y, n.W, n.H, "#dbe8f6", "#3a6ea5", 4);
            for (int i = 0; i < n.Lines.Length; i++)
                svg.Text(n.X + n.W / 2, n.Y + 6 + LineH * (i + 1) - 3, n.Lines[i], i == 0 ? 11.5 : 10.5, "middle", i == 0 ? " font-weight=\"bold\"" : " fill=\"#333\"");
            svg.Close("g");
        }
        return svg.ToString();
    }
}
