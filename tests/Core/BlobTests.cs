using Google.Protobuf;
using Engine.Core;
using Engine.Proto;
using NUnit.Framework;

namespace Engine.Tests.Core;

[TestFixture]
public class BlobTests
{
    [Test]
    public void ShapeCountsAndLegacyAccessors()
    {
        var b = new Blob("b", 2, 3, 4, 5);
        Assert.That(b.Count, Is.EqualTo(120));
        Assert.That(b.CountFrom(1), Is.EqualTo(60));
        Assert.That(b.CountRange(1, 3), Is.EqualTo(12));
        Assert.That((b.Num, b.Channels, b.Height, b.Width), Is.EqualTo((2, 3, 4, 5)));
        Assert.That(b.Dim(-1), Is.EqualTo(5));
        var v = new Blob("v", 7, 9);
        Assert.That((v.Num, v.Channels, v.Height, v.Width), Is.EqualTo((7, 9, 1, 1)), "missing trailing axes read as 1, as in Caffe");
    }

    [Test]
    public void ShrinkingKeepsTheBufferAndGrowingKeepsTheData()
    {
        var b = new Blob("b", 10);
        var array = b.DataArray;
        b.Data[3] = 5;
        b.Reshape(4);
        Assert.That(b.DataArray, Is.SameAs(array));
        b.Reshape(20);
        Assert.That(b.Data[3], Is.EqualTo(5f));
    }

    [Test]
    public void SharingDataOfUsesTheDataAndHasItsOwnGradient()
    {
        var weights = new Blob("w", 3, 4);
        weights.Data[5] = 2;
        var view = Blob.SharingDataOf(weights, "v");
        Assert.That(view.Name, Is.EqualTo("v"));
        Assert.That(view.Shape, Is.EqualTo(new[] { 3, 4 }));
        Assert.That(view.DataArray, Is.SameAs(weights.DataArray));
        Assert.That(view.Data[5], Is.EqualTo(2f));
        Assert.That(view.DiffArray, Is.Not.SameAs(weights.DiffArray));
        Assert.That(view.Diff.Length, Is.EqualTo(12));
        view.Diff.Fill(1);
        Assert.That(weights.Diff.ToArray(), Is.All.EqualTo(0f));
        view.Reshape(2, 6);
        Assert.That(weights.Shape, Is.EqualTo(new[] { 3, 4 }), "the shape is the view's own");
    }

    [Test]
    public void AxisOutOfRangeNamesTheBlob()
    {
        var e = Assert.Throws<EngineException>(() => new Blob("conv1", 2, 3).Dim(3))!;
        Assert.That(e.Message, Does.Contain("\"conv1\""));
    }

    [Test]
    public void LegacyFourDShapeMatchesTheLastAxes()
    {
        // An InnerProduct weight saved by old Caffe as 1×1×M×K loads into an M×K blob.
        var w = new Blob("w", 3, 2);
        var old = new BlobProto { Num = 1, Channels = 1, Height = 3, Width = 2, Data = { 1, 2, 3, 4, 5, 6 } };
        Assert.That(w.ShapeMatches(old));
        w.FromProto(old, reshape: false);
        Assert.That(w.Data.ToArray(), Is.EqualTo(new float[] { 1, 2, 3, 4, 5, 6 }));
        Assert.That(w.ShapeMatches(new BlobProto { Num = 1, Channels = 1, Height = 2, Width = 3 }), Is.False);
    }

    [Test]
    public void DoubleDataIsRead()
    {
        var b = new Blob("b");
        b.FromProto(new BlobProto { Shape = new BlobShape { Dim = { 2 } }, DoubleData = { 0.5, -1.25 } });
        Assert.That(b.Data.ToArray(), Is.EqualTo(new[] { 0.5f, -1.25f }));
    }

    [Test]
    public void ProtoRoundTrip()
    {
        var b = new Blob("b", 2, 2);
        new float[] { 1, 2, 3, 4 }.CopyTo(b.Data);
        new float[] { 5, 6, 7, 8 }.CopyTo(b.Diff);
        var c = new Blob("c");
        c.FromProto(BlobProto.Parser.ParseFrom(b.ToProto(writeDiff: true).ToByteArray()));
        Assert.That(c.Shape, Is.EqualTo(new[] { 2, 2 }));
        Assert.That(c.Data.ToArray(), Is.EqualTo(new float[] { 1, 2, 3, 4 }));
        Assert.That(c.Diff.ToArray(), Is.EqualTo(new float[] { 5, 6, 7, 8 }));
    }

    [Test]
    public void StoredCountMismatchIsAnError()
    {
        var b = new Blob("w", 3);
        var e = Assert.Throws<EngineException>(() => b.FromProto(new BlobProto { Shape = new BlobShape { Dim = { 3 } }, Data = { 1, 2 } }, reshape: false))!;
        Assert.That(e.Message, Does.Contain("\"w\""));
    }
}

[TestFixture]
public class RngTests
{
    [Test]
    public void StateRoundTripContinuesTheSequence()
    {
        var a = new Rng(42);
        for (int i = 0; i < 10; i++) a.NextUInt64();
        var state = a.SaveState();
        var expected = Enumerable.Range(0, 5).Select(_ => a.NextUInt64()).ToArray();
        var b = new Rng(0);
        b.LoadState(state);
        Assert.That(Enumerable.Range(0, 5).Select(_ => b.NextUInt64()).ToArray(), Is.EqualTo(expected));
    }

    [Test]
    public void UniformAndIntsAreInRangeAndRoughlyUniform()
    {
        var r = new Rng(7);
        var counts = new int[10];
        for (int i = 0; i < 100000; i++)
        {
            float f = r.NextFloat();
            Assert.That(f, Is.GreaterThanOrEqualTo(0f).And.LessThan(1f));
            counts[r.NextInt(10)]++;
        }
        Assert.That(counts, Is.All.InRange(9500, 10500));
    }

    /// <summary>P(a ≤ X &lt; b) for a standard normal X, by Simpson's rule on the density.</summary>
    private static double NormalMass(double a, double b)
    {
        const int steps = 2000;
        double h = (b - a) / steps, sum = 0;
        for (int i = 0; i <= steps; i++)
        {
            double x = a + i * h, f = Math.Exp(-0.5 * x * x);
            sum += (i == 0 || i == steps ? 1 : i % 2 == 1 ? 4 : 2) * f;
        }
        return sum * h / 3 / Math.Sqrt(2 * Math.PI);
    }

    [Test]
    public void GaussianMatchesTheNormalDensity()
    {
        // 2M draws in 48 bins of width 0.25 over [−6, 6), against the density's mass per bin (a χ²
        // test with a fixed seed), plus the mass beyond the ziggurat's base layer (|x| > R ≈ 3.44,
        // drawn by its own tail method) and the first two moments.
        const int draws = 2_000_000, bins = 48;
        var r = new Rng(2024);
        var counts = new long[bins];
        long beyondR = 0;
        double sum = 0, sumSq = 0;
        for (int i = 0; i < draws; i++)
        {
            double x = r.NextGaussian();
            sum += x;
            sumSq += x * x;
            if (Math.Abs(x) > 3.442619855899) beyondR++;
            int bin = (int)Math.Floor((x + 6) / 0.25);
            Assert.That(bin, Is.InRange(0, bins - 1), $"draw {x} outside ±6 (p ≈ 2e−9 per draw)");
            counts[bin]++;
        }
        double chi2 = 0;
        for (int b = 0; b < bins; b++)
        {
            double expected = draws * NormalMass(-6 + 0.25 * b, -6 + 0.25 * (b + 1));
            if (expected < 5) continue; // too few for χ²; the tail check below covers them
            chi2 += (counts[b] - expected) * (counts[b] - expected) / expected;
        }
        Assert.That(chi2, Is.LessThan(80), "χ² over ~36 populated bins (p = 0.001 at about 67–75)");
        double tail = 2 * NormalMass(3.442619855899, 12);
        Assert.That(beyondR, Is.EqualTo(draws * tail).Within(5 * Math.Sqrt(draws * tail)), "draws beyond R");
        Assert.That(sum / draws, Is.EqualTo(0).Within(0.004));
        Assert.That(sumSq / draws, Is.EqualTo(1).Within(0.006));
        // Mean and std carry through.
        var g = new Rng(5);
        double m = 0;
        for (int i = 0; i < 10000; i++) m += g.NextGaussian(3, 0.5);
        Assert.That(m / 10000, Is.EqualTo(3).Within(0.02));
    }

    [Test]
    public void BulkFillsDrawWhatSingleCallsDraw()
    {
        // Enough values that the ziggurat's slow paths (tail and wedge, ~3% of draws) occur.
        var bulk = new Rng(99);
        var single = new Rng(99);
        var g = new float[20000];
        bulk.FillGaussian(g, 0.5, 2);
        for (int i = 0; i < g.Length; i++) Assert.That(g[i], Is.EqualTo((float)single.NextGaussian(0.5, 2)), $"gaussian {i}");
        var u = new float[1000];
        bulk.FillUniform(u, -3, 5);
        for (int i = 0; i < u.Length; i++) Assert.That(u[i], Is.EqualTo(-3f + 8f * single.NextFloat()), $"uniform {i}");
        Assert.That(bulk.NextUInt64(), Is.EqualTo(single.NextUInt64()), "the states end equal");
    }

    [Test]
    public void ShuffleIsAPermutation()
    {
        var items = Enumerable.Range(0, 100).ToArray();
        new Rng(3).Shuffle<int>(items);
        Assert.That(items, Is.EquivalentTo(Enumerable.Range(0, 100)));
        Assert.That(items, Is.Not.EqualTo(Enumerable.Range(0, 100)));
    }
}
