namespace Engine.Tools;

/// <summary>
/// A layered (Sugiyama-style) drawing of a directed graph, top to bottom: nodes sit in horizontal
/// bands by rank; an edge spanning several ranks gets a dummy node in each band it crosses, so it
/// runs in a lane of its own; barycentre sweeps order each band to cut crossings (the order with
/// the fewest is kept); then each band's x positions are the closest, in least squares, to the
/// mean of the neighbours' positions that keep the order and the gaps (pool-adjacent-violators),
/// swept down and up a few times.
/// <para>
/// Edge routes: down from the source's bottom to its band's bottom, across the gap between
/// bands, down through each dummy's lane, down into the target's top. Inside a band an edge
/// only runs within its own endpoint's or dummy's column, and gaps hold no nodes, so no edge
/// passes through a node. Edges that do not go down (same or lower rank) are drawn straight.
/// </para>
/// </summary>
public sealed class LayeredLayout
{
    /// <summary>
    /// A node: its size (edges attach to its top and bottom), its band, where edges attach (an x
    /// range from its left), and the height it needs around its centre (things drawn beside it).
    /// </summary>
    public sealed class Node(double width, double height, int rank, double portLeft, double portRight, double extent = 0)
    {
        public double W { get; } = width;
        public double H { get; } = height;
        public double Extent { get; } = Math.Max(extent, height);
        public int Rank { get; } = rank;
        public double PortLeft { get; } = portLeft;
        public double PortRight { get; } = portRight;
        public double X { get; internal set; }
        public double Y { get; internal set; }
        internal bool Dummy;
        internal int Order;
        internal readonly List<Node> Up = [], Down = [];
        public double CenterX => X + W / 2;

        /// <summary>Where edges attach, from the left (the middle of the port range); what bands align.</summary>
        internal double Anchor => (PortLeft + PortRight) / 2;

        internal double AnchorX => X + Anchor;
    }

    private readonly List<Node> _nodes;
    private readonly List<List<Node>> _bands = [];
    private readonly List<(Node from, Node to, List<Node> chain)> _edges = [];
    private readonly double _gapX, _gapY, _margin;

    /// <summary>Lay out <paramref name="nodes"/> (ranks ≥ 0) joined by <paramref name="edges"/> (indexes into nodes).</summary>
    public LayeredLayout(IReadOnlyList<Node> nodes, IReadOnlyList<(int from, int to)> edges, double gapX = 24, double gapY = 46, double margin = 20)
    {
        _nodes = [.. nodes];
        _gapX = gapX;
        _gapY = gapY;
        _margin = margin;
        int ranks = _nodes.Count == 0 ? 0 : _nodes.Max(n => n.Rank) + 1;
        for (int r = 0; r < ranks; r++) _bands.Add([]);
        foreach (var n in _nodes) _bands[n.Rank].Add(n);
        foreach (var (f, t) in edges)
        {
            var (from, to) = (_nodes[f], _nodes[t]);
            var chain = new List<Node>();
            if (to.Rank > from.Rank)
            {
                var prev = from;
                for (int r = from.Rank + 1; r < to.Rank; r++)
                {
                    var d = new Node(DummyWidth, 0, r, 0, DummyWidth) { Dummy = true };
                    _bands[r].Add(d);
                    chain.Add(d);
                    Link(prev, d);
                    prev = d;
                }
                Link(prev, to);
            }
            _edges.Add((from, to, chain));
        }
        OrderBands();
        PlaceX();
        PlaceY();
        Routes = _edges.Select(Route).ToList();
    }

    private const double DummyWidth = 6;

    private static void Link(Node a, Node b)
    {
        a.Down.Add(b);
        b.Up.Add(a);
    }

    /// <summary>The drawing's size, margins included.</summary>
    public double Width { get; private set; }
    public double Height { get; private set; }

    /// <summary>Each band's vertical extent: nodes lie inside; edges cross the gaps between.</summary>
    public List<(double top, double bottom)> BandExtents { get; } = [];

    /// <summary>Per edge (in the order given), its polyline: from the source's bottom to the target's top.</summary>
    public List<List<(double x, double y)>> Routes { get; }

    // ---------------------------------------------------------------- ordering

    private void OrderBands()
    {
        foreach (var band in _bands)
            for (int i = 0; i < band.Count; i++) band[i].Order = i;
        var best = _bands.Select(b => b.ToList()).ToList();
        long bestCrossings = Crossings();
        for (int sweep = 0; sweep < 24 && bestCrossings > 0; sweep++)
        {
            bool down = sweep % 2 == 0;
            if (down) for (int r = 1; r < _bands.Count; r++) SortBy(_bands[r], n => n.Up);
            else for (int r = _bands.Count - 2; r >= 0; r--) SortBy(_bands[r], n => n.Down);
            long c = Crossings();
            if (c < bestCrossings)
            {
                bestCrossings = c;
                best = _bands.Select(b => b.ToList()).ToList();
            }
        }
        for (int r = 0; r < _bands.Count; r++)
        {
            _bands[r].Clear();
            _bands[r].AddRange(best[r]);
            for (int i = 0; i < _bands[r].Count; i++) _bands[r][i].Order = i;
        }
    }

    // Stable sort of a band by the mean order of each node's neighbours (those without keep their place).
    private static void SortBy(List<Node> band, Func<Node, List<Node>> neighbours)
    {
        var keyed = band.Select((n, i) =>
        {
            var ns = neighbours(n);
            double key = ns.Count > 0 ? ns.Average(m => (double)m.Order) : n.Order;
            return (n, key, i);
        }).OrderBy(t => t.key).ThenBy(t => t.i).Select(t => t.n).ToList();
        band.Clear();
        band.AddRange(keyed);
        for (int i = 0; i < band.Count; i++) band[i].Order = i;
    }

    /// <summary>Edge crossings between adjacent bands for the current order.</summary>
    private long Crossings()
    {
        long total = 0;
        var pairs = new List<(int a, int b)>();
        for (int r = 0; r + 1 < _bands.Count; r++)
        {
            pairs.Clear();
            foreach (var n in _bands[r])
                foreach (var m in n.Down) pairs.Add((n.Order, m.Order));
            for (int i = 0; i < pairs.Count; i++)
                for (int j = i + 1; j < pairs.Count; j++)
                    if ((pairs[i].a - pairs[j].a) * (long)(pairs[i].b - pairs[j].b) < 0) total++;
        }
        return total;
    }

    // ---------------------------------------------------------------- x positions

    private double Gap(Node a, Node b) => a.Dummy && b.Dummy ? 6 : a.Dummy || b.Dummy ? 12 : _gapX;

    private void PlaceX()
    {
        // Start packed from the left.
        foreach (var band in _bands)
        {
            double x = 0;
            for (int i = 0; i < band.Count; i++)
            {
                if (i > 0) x += Gap(band[i - 1], band[i]);
                band[i].X = x;
                x += band[i].W;
            }
        }
        for (int it = 0; it < 8; it++)
        {
            for (int r = 1; r < _bands.Count; r++) Align(_bands[r], n => n.Up);
            for (int r = _bands.Count - 2; r >= 0; r--) Align(_bands[r], n => n.Down);
        }
        for (int r = 0; r < _bands.Count; r++) Align(_bands[r], n => [.. n.Up, .. n.Down]);
        Straighten();
        double minX = _nodes.Concat(_bands.SelectMany(b => b)).Select(n => n.X).DefaultIfEmpty(0).Min();
        double maxX = double.MinValue;
        foreach (var n in _bands.SelectMany(b => b))
        {
            n.X += _margin - minX;
            maxX = Math.Max(maxX, n.X + n.W);
        }
        Width = (_bands.Count == 0 ? 0 : maxX) + _margin;
    }

    // The band's anchors closest (least squares) to their neighbours' mean anchors, keeping order
    // and gaps: isotonic regression of (desired − minimal offset) by pool-adjacent-violators.
    private void Align(List<Node> band, Func<Node, List<Node>> neighbours)
    {
        int k = band.Count;
        if (k == 0) return;
        var offset = new double[k];
        for (int i = 1; i < k; i++)
            offset[i] = offset[i - 1] + band[i - 1].W - band[i - 1].Anchor + Gap(band[i - 1], band[i]) + band[i].Anchor;
        var target = new double[k];
        for (int i = 0; i < k; i++)
        {
            var ns = neighbours(band[i]);
            double desired = ns.Count > 0 ? ns.Average(m => m.AnchorX) : band[i].AnchorX;
            target[i] = desired - offset[i];
        }
        // Blocks of pooled values: (mean, weight, count).
        var means = new List<double>();
        var weights = new List<double>();
        var counts = new List<int>();
        for (int i = 0; i < k; i++)
        {
            means.Add(target[i]);
            weights.Add(1);
            counts.Add(1);
            while (means.Count > 1 && means[^2] > means[^1])
            {
                double w = weights[^2] + weights[^1];
                double m = (means[^2] * weights[^2] + means[^1] * weights[^1]) / w;
                int c = counts[^2] + counts[^1];
                means.RemoveAt(means.Count - 1); weights.RemoveAt(weights.Count - 1); counts.RemoveAt(counts.Count - 1);
                means[^1] = m; weights[^1] = w; counts[^1] = c;
            }
        }
        int idx = 0;
        for (int b = 0; b < means.Count; b++)
            for (int j = 0; j < counts[b]; j++, idx++)
                band[idx].X = means[b] + offset[idx] - band[idx].Anchor;
    }

    // A long edge reads best as a straight lane: cut its chain of dummies into the fewest runs
    // that can share one x between their band neighbours, and put each run at the x allowed that
    // is closest to the run's median.
    private void Straighten()
    {
        foreach (var (_, _, chain) in _edges)
        {
            int start = 0;
            double lo = double.MinValue, hi = double.MaxValue;
            for (int i = 0; i <= chain.Count; i++)
            {
                if (i < chain.Count)
                {
                    var (l, h) = Room(chain[i]);
                    if (Math.Max(lo, l) <= Math.Min(hi, h))
                    {
                        lo = Math.Max(lo, l);
                        hi = Math.Min(hi, h);
                        continue;
                    }
                }
                if (i > start)
                {
                    var xs = chain.GetRange(start, i - start).Select(d => d.AnchorX).Order().ToList();
                    double x = Math.Clamp(xs[xs.Count / 2], lo, hi);
                    for (int j = start; j < i; j++) chain[j].X = x - chain[j].Anchor;
                }
                if (i == chain.Count) break;
                start = i;
                (lo, hi) = Room(chain[i]);
            }
        }
    }

    // The anchor x range a node may take between its band neighbours as they stand.
    private (double lo, double hi) Room(Node d)
    {
        var band = _bands[d.Rank];
        double lo = double.MinValue, hi = double.MaxValue;
        if (d.Order > 0)
        {
            var l = band[d.Order - 1];
            lo = l.X + l.W + Gap(l, d) + d.Anchor;
        }
        if (d.Order + 1 < band.Count)
        {
            var r = band[d.Order + 1];
            hi = r.X - Gap(d, r) - (d.W - d.Anchor);
        }
        // Where it stands always fits (the bounds can miss it by a rounding error when tight).
        return (Math.Min(lo, d.AnchorX), Math.Max(hi, d.AnchorX));
    }

    // ---------------------------------------------------------------- y positions and routes

    private void PlaceY()
    {
        double y = _margin;
        foreach (var band in _bands)
        {
            double h = band.Where(n => !n.Dummy).Select(n => n.Extent).DefaultIfEmpty(0).Max();
            BandExtents.Add((y, y + h));
            foreach (var n in band) n.Y = n.Dummy ? y : y + (h - n.H) / 2;
            y += h + _gapY;
        }
        Height = _bands.Count == 0 ? 2 * _margin : y - _gapY + _margin;
    }

    // Where an edge leaves (or enters) a node: spread over the port range in the order of the
    // other ends, so parallel edges do not pile onto one point.
    private static double PortX(Node n, Node other, bool outgoing)
    {
        var list = outgoing ? n.Down : n.Up;
        if (n.PortRight <= n.PortLeft || list.Count < 2) return n.X + (n.PortLeft + n.PortRight) / 2;
        var sorted = list.Distinct().OrderBy(m => m.CenterX).ToList();
        int i = sorted.IndexOf(other);
        return n.X + n.PortLeft + (n.PortRight - n.PortLeft) * (i + 1) / (sorted.Count + 1);
    }

    private List<(double x, double y)> Route((Node from, Node to, List<Node> chain) e)
    {
        var (from, to, chain) = e;
        var pts = new List<(double x, double y)>();
        if (to.Rank <= from.Rank)
        {
            pts.Add((from.CenterX, from.Y + from.H / 2));
            pts.Add((to.CenterX, to.Y + to.H / 2));
            return pts;
        }
        var next = chain.Count > 0 ? chain[0] : to;
        double x0 = PortX(from, next, outgoing: true);
        pts.Add((x0, from.Y + from.H));
        pts.Add((x0, BandExtents[from.Rank].bottom));
        var prev = from;
        foreach (var d in chain)
        {
            double x = d.CenterX;
            pts.Add((x, BandExtents[d.Rank].top));
            pts.Add((x, BandExtents[d.Rank].bottom));
            prev = d;
        }
        double x1 = PortX(to, prev, outgoing: false);
        pts.Add((x1, BandExtents[to.Rank].top));
        pts.Add((x1, to.Y));
        return pts;
    }
}
