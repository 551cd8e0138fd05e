using Engine.Graph;
using Engine.Proto;
using Engine.Tests.Support;
using Engine.Text;
using Engine.Tools;
using NUnit.Framework;

namespace Engine.Tests.Tools;

/// <summary>
/// The layered layout of `engine draw`: checked geometrically on real nets (no edge runs through
/// a box, every layer and blob is drawn, every edge joins its two ends) and on small graphs whose
/// answer is known by hand.
/// </summary>
[TestFixture]
public class LayeredLayoutTests
{
    private static NetParameter Net(string relative, Phase? phase)
    {
        var path = Path.Combine(TestData.RepoRoot, relative);
        var shared = TestData.SharedModels;
        if (!File.Exists(path) && shared != null) path = Path.Combine(shared, relative);
        if (!File.Exists(path)) Assert.Ignore($"{relative} not found");
        var net = NetFiles.ReadNet(path);
        return phase == null ? net : NetFilter.Filter(net, new NetState { Phase = phase.Value });
    }

    private readonly record struct Box(string Id, double Left, double Top, double Right, double Bottom);

    private static List<Box> Boxes(NetGraph g) =>
        g.Layers.Concat(g.Blobs).Select(n => new Box(n.Id, n.X, n.Y, n.X + n.W, n.Y + n.H)).ToList();

    // Does the segment a–b pass through the inside of the box (its border shrunk by eps)?
    private static bool Crosses((double x, double y) a, (double x, double y) b, Box r, double eps = 0.5)
    {
        double l = r.Left + eps, t = r.Top + eps, rt = r.Right - eps, bt = r.Bottom - eps;
        if (l >= rt || t >= bt) return false;
        // Liang–Barsky clipping of the segment against the box.
        double t0 = 0, t1 = 1, dx = b.x - a.x, dy = b.y - a.y;
        foreach (var (p, q) in new[] { (-dx, a.x - l), (dx, rt - a.x), (-dy, a.y - t), (dy, bt - a.y) })
        {
            if (p == 0)
            {
                if (q < 0) return false;
                continue;
            }
            double u = q / p;
            if (p < 0) t0 = Math.Max(t0, u);
            else t1 = Math.Min(t1, u);
            if (t0 > t1) return false;
        }
        return t1 - t0 > 1e-9;
    }

    [TestCase("nets/lenet/lenet_train_test.prototxt", null)]
    [TestCase("nets/lenet/lenet_train_test.prototxt", Phase.Test)]
    [TestCase("nets/unet/unet_train_test.prototxt", Phase.Train)]
    [TestCase("nets/googlenet/train_val.prototxt", Phase.Train)]
    [TestCase("nets/googlenet/train_val.prototxt", null)]
    [TestCase("models/ResNet-50/ResNet-50-deploy.prototxt", null)]
    [TestCase("nets/lstm/lstm_rows_train_test.prototxt", Phase.Train)]
    public void NoEdgeRunsThroughABoxAndEveryEdgeJoinsItsEnds(string relative, Phase? phase)
    {
        var net = Net(relative, phase);
        var g = new NetGraph(net);
        g.ToSvg();
        var boxes = Boxes(g);

        // Every layer and blob is drawn once, none overlapping another.
        Assert.That(g.Layers.Select(l => l.Id), Is.EqualTo(net.Layer.Select(l => "layer_" + l.Name)));
        var blobNames = net.Layer.SelectMany(l => l.Bottom.Concat(l.Top)).Concat(net.Input).Distinct().Select(b => "blob_" + b);
        Assert.That(g.Blobs.Select(b => b.Id), Is.EquivalentTo(blobNames));
        for (int i = 0; i < boxes.Count; i++)
            for (int j = i + 1; j < boxes.Count; j++)
            {
                var (a, b) = (boxes[i], boxes[j]);
                bool overlap = a.Left < b.Right - 0.5 && b.Left < a.Right - 0.5 && a.Top < b.Bottom - 0.5 && b.Top < a.Bottom - 0.5;
                Assert.That(overlap, Is.False, $"{a.Id} overlaps {b.Id}");
            }

        Assert.That(g.Routes, Has.Count.EqualTo(g.Edges.Count), "every edge is drawn");
        foreach (var (edge, pts) in g.Routes)
        {
            string name = $"{edge.From.Id} -> {edge.To.Id}";
            Assert.That(pts, Has.Count.GreaterThanOrEqualTo(2), name);
            // An in-place layer drawn beside its blob is joined to the one before it in the chain.
            IEnumerable<NetGraph.Node> starts = edge.To.Host == edge.From ? edge.From.Attached.Prepend(edge.From) : new[] { edge.From };
            Assert.That(starts.Any(n => Touches(n, pts[0])), $"{name} starts on its source");
            Assert.That(Touches(edge.To, pts[^1]), $"{name} ends on its target");
            for (int k = 1; k < pts.Count; k++)
            {
                var (a, b) = (pts[k - 1], pts[k]);
                foreach (var box in boxes)
                    Assert.That(Crosses(a, b, box), Is.False, $"{name}: segment {a} – {b} crosses {box.Id}");
                // A sideways step is drawn as a curve inside the segment's y range: that range
                // must hold no box at all (it lies in a gap between bands).
                if (a.x != b.x && a.y != b.y)
                    foreach (var box in boxes)
                        Assert.That(box.Bottom <= Math.Min(a.y, b.y) + 0.5 || box.Top >= Math.Max(a.y, b.y) - 0.5, Is.True,
                            $"{name}: the curve from {a} to {b} may touch {box.Id}");
            }
        }
    }

    private static bool Touches(NetGraph.Node n, (double x, double y) p) =>
        p.x >= n.X - 0.5 && p.x <= n.X + n.W + 0.5 && p.y >= n.Y - 0.5 && p.y <= n.Y + n.H + 0.5;

    [Test]
    public void ALongEdgeGetsALaneBesideTheNodeItPasses()
    {
        // a → b → c and a → c: the long edge passes b's band in a lane of its own.
        var nodes = new List<LayeredLayout.Node>
        {
            new(40, 20, 0, 0, 40), new(100, 20, 1, 0, 100), new(40, 20, 2, 0, 40),
        };
        var layout = new LayeredLayout(nodes, [(0, 1), (1, 2), (0, 2)], gapX: 20, gapY: 30, margin: 10);
        var route = layout.Routes[2];
        Assert.That(route, Has.Count.EqualTo(6), "source, band bottom, lane top, lane bottom, band top, target");
        var b = nodes[1];
        var lane = route[2].x;
        Assert.That(route[3].x, Is.EqualTo(lane), "straight through the band");
        Assert.That(lane < b.X - 6 || lane > b.X + b.W + 6, $"lane at {lane} beside b [{b.X}, {b.X + b.W}]");
        // Bands: 20 high, 30 apart, from the margin.
        Assert.That(layout.BandExtents, Is.EqualTo(new[] { (10.0, 30.0), (60.0, 80.0), (110.0, 130.0) }));
        Assert.That(route[0].y, Is.EqualTo(30).And.EqualTo(route[1].y));
        Assert.That(route[2].y, Is.EqualTo(60));
        Assert.That(route[^1].y, Is.EqualTo(110));
    }

    [Test]
    public void OrderingUncrossesTwoEdges()
    {
        // Given in the crossed order (a→d, b→c with c before d); the sweep swaps c and d.
        var nodes = new List<LayeredLayout.Node>
        {
            new(30, 20, 0, 15, 15), new(30, 20, 0, 15, 15), new(30, 20, 1, 15, 15), new(30, 20, 1, 15, 15),
        };
        _ = new LayeredLayout(nodes, [(0, 3), (1, 2)]);
        Assert.That(nodes[0].X, Is.LessThan(nodes[1].X));
        Assert.That(nodes[3].X, Is.LessThan(nodes[2].X), "d is now left of c");
        // Each child under its parent: the anchors line up.
        Assert.That(nodes[3].X, Is.EqualTo(nodes[0].X).Within(1e-9));
        Assert.That(nodes[2].X, Is.EqualTo(nodes[1].X).Within(1e-9));
    }

    [Test]
    public void NodesOfABandKeepTheirGapsWhenTheyAllWantTheSamePlace()
    {
        // Three children of one parent all want to sit under it: the least-squares placement keeps
        // the gaps and centres the row under the parent.
        var nodes = new List<LayeredLayout.Node>
        {
            new(20, 10, 0, 10, 10), new(20, 10, 1, 10, 10), new(20, 10, 1, 10, 10), new(20, 10, 1, 10, 10),
        };
        _ = new LayeredLayout(nodes, [(0, 1), (0, 2), (0, 3)], gapX: 10);
        Assert.That(nodes[2].X - nodes[1].X, Is.EqualTo(30).Within(1e-9));
        Assert.That(nodes[3].X - nodes[2].X, Is.EqualTo(30).Within(1e-9));
        Assert.That(nodes[2].X, Is.EqualTo(nodes[0].X).Within(1e-9), "the middle child under the parent");
    }
}
