using System.Text;
using Engine.Proto;

namespace Engine.Tools;

/// <summary>
/// A filtered NetParameter as a graph of layers (boxes) and blobs (ellipses), written as Graphviz
/// DOT or laid out by itself as SVG (<see cref="LayeredLayout"/>): bands by topological depth, top
/// to bottom, edges routed around the boxes. An in-place layer (a top that is also a bottom) sits
/// beside its blob, joined by a two-way edge. A layer kept to one phase by include/exclude rules
/// says so ("TRAIN only"), so an unfiltered drawing shows both phases' layers apart.
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
        var phases = l.Include.Where(r => r.HasPhase).Select(r => r.Phase).ToList();
        if (phases.Count == 0 && l.Exclude.Count(r => r.HasPhase) == 1)
            phases.Add(l.Exclude.First(r => r.HasPhase).Phase == Phase.Train ? Phase.Test : Phase.Train);
        if (phases.Count == 1) lines.Add($"{phases[0].ToString().ToUpperInvariant()} only");
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

    private const double CharW = 6.6, LineH = 14, PadX = 12, GapX = 24, GapY = 46, Margin = 20, AttachGap = 18;

    /// <summary>The layout of the last <see cref="ToSvg"/> (positions are in the nodes).</summary>
    public LayeredLayout? Layout { get; private set; }

    /// <summary>Each drawn edge's polyline from the last <see cref="ToSvg"/>, with the edge it draws.</summary>
    public List<(Edge edge, List<(double x, double y)> points)> Routes { get; } = [];

    /// <summary>
    /// Lay the graph out (<see cref="LayeredLayout"/>: bands by depth, long edges in lanes of their
    /// own, around the boxes) and draw it. A blob and its in-place layers form one unit, drawn
    /// side by side and joined by dashed two-way arrows in the order the layers run.
    /// </summary>
    public string ToSvg()
    {
        foreach (var n in Layers.Concat(Blobs))
        {
            n.W = n.Lines.Max(s => s.Length) * CharW + 2 * PadX;
            n.H = n.Lines.Length * LineH + 12;
            if (!n.IsLayer) { n.W += 16; n.H = Math.Max(n.H, 28); }
        }
        var units = Layers.Where(l => l.Host == null).Concat(Blobs).ToList();
        var index = new Dictionary<Node, int>();
        var nodes = new List<LayeredLayout.Node>();
        foreach (var u in units)
        {
            index[u] = nodes.Count;
            double width = u.W + u.Attached.Sum(a => a.W + AttachGap);
            double extent = u.Attached.Select(a => a.H).Append(u.H).Max();
            nodes.Add(u.IsLayer
                ? new LayeredLayout.Node(width, u.H, u.Depth, 0.15 * u.W, 0.85 * u.W, extent)
                : new LayeredLayout.Node(width, u.H, u.Depth, u.W / 2, u.W / 2, extent));
        }
        // Edges between units go through the layout; an in-place layer drawn beside its blob is
        // joined to the unit's previous member instead.
        var routed = new List<Edge>();
        var beside = new List<Edge>();
        foreach (var e in Edges)
        {
            if (index.ContainsKey(e.From) && index.ContainsKey(e.To)) routed.Add(e);
            else beside.Add(e);
        }
        var layout = new LayeredLayout(nodes, routed.Select(e => (index[e.From], index[e.To])).ToList(), GapX, GapY, Margin);
        Layout = layout;
        foreach (var u in units)
        {
            var ln = nodes[index[u]];
            u.X = ln.X;
            u.Y = ln.Y;
            double cy = ln.Y + u.H / 2, ax = u.X + u.W + AttachGap;
            foreach (var a in u.Attached) { a.X = ax; a.Y = cy - a.H / 2; ax += a.W + AttachGap; }
        }
        Routes.Clear();
        for (int i = 0; i < routed.Count; i++) Routes.Add((routed[i], layout.Routes[i]));
        foreach (var e in beside)
        {
            var (blob, layer) = (e.From, e.To);
            if (layer.Host == blob)
            {
                int k = blob.Attached.IndexOf(layer);
                var prev = k > 0 ? blob.Attached[k - 1] : blob;
                Routes.Add((e, [(prev.X + prev.W, layer.Y + layer.H / 2), (layer.X, layer.Y + layer.H / 2)]));
            }
            else Routes.Add((e, [(blob.X + blob.W / 2, blob.Y + blob.H / 2), (layer.X + layer.W / 2, layer.Y + layer.H / 2)]));
        }

        var svg = new SvgWriter(Math.Max(layout.Width, 200), Math.Max(layout.Height, 100));
        svg.Raw("<defs><marker id=\"arrow\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"7\" markerHeight=\"7\" orient=\"auto-start-reverse\">" +
                "<path d=\"M0,0 L10,5 L0,10 z\" fill=\"#555\"/></marker></defs>");
        foreach (var (e, pts) in Routes)
        {
            string ends = e.InPlace ? "stroke=\"#888\" stroke-dasharray=\"4 3\" marker-start=\"url(#arrow)\" marker-end=\"url(#arrow)\"" : "stroke=\"#555\" marker-end=\"url(#arrow)\"";
            svg.Raw($"<path class=\"edge{(e.InPlace ? " inplace" : "")}\" data-from=\"{SvgWriter.Escape(e.From.Id)}\" data-to=\"{SvgWriter.Escape(e.To.Id)}\" " +
                    $"d=\"{PathData(pts)}\" {ends} fill=\"none\"/>");
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

    // Vertical runs as lines; each crossing between bands (a segment that moves sideways) as a
    // cubic whose control points stay in the gap, so the curve does too.
    private static string PathData(List<(double x, double y)> pts)
    {
        var sb = new StringBuilder($"M{SvgWriter.F(pts[0].x)},{SvgWriter.F(pts[0].y)}");
        for (int i = 1; i < pts.Count; i++)
        {
            var (a, b) = (pts[i - 1], pts[i]);
            if (a == b) continue;
            if (a.x == b.x || a.y == b.y || pts.Count == 2) sb.Append($" L{SvgWriter.F(b.x)},{SvgWriter.F(b.y)}");
            else
            {
                double my = (a.y + b.y) / 2;
                sb.Append($" C{SvgWriter.F(a.x)},{SvgWriter.F(my)} {SvgWriter.F(b.x)},{SvgWriter.F(my)} {SvgWriter.F(b.x)},{SvgWriter.F(b.y)}");
            }
        }
        return sb.ToString();
    }
}
