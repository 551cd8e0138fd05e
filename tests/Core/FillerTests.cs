using Engine.Core;
using Engine.Proto;
using NUnit.Framework;

namespace Engine.Tests.Core;

/// <summary>Fillers against Caffe's definitions: exact values where they are exact, statistics otherwise.</summary>
[TestFixture]
public class FillerTests
{
    private static Blob Fill(FillerParameter p, params int[] shape)
    {
        var b = new Blob("w", shape);
        Filler.Fill(b, p, new Rng(1701), "test");
        return b;
    }

    private static (double mean, double std) Stats(Blob b)
    {
        var d = b.Data.ToArray();
        double mean = d.Average(v => (double)v);
        double var = d.Average(v => (v - mean) * (v - mean));
        return (mean, Math.Sqrt(var));
    }

    [Test]
    public void Constant() => Assert.That(Fill(new FillerParameter { Type = "constant", Value = 10 }, 2, 3, 4, 5).Data.ToArray(), Is.All.EqualTo(10f));

    [Test]
    public void ConstantIsTheDefault() => Assert.That(Fill(new FillerParameter(), 7).Data.ToArray(), Is.All.EqualTo(0f));

    [Test]
    public void UniformStaysInRange()
    {
        var d = Fill(new FillerParameter { Type = "uniform", Min = 1, Max = 2 }, 2, 3, 4, 5).Data.ToArray();
        Assert.That(d, Is.All.InRange(1f, 2f));
        Assert.That(d.Distinct().Count(), Is.GreaterThan(100));
    }

    [Test]
    public void GaussianHasItsMeanAndStd()
    {
        var (mean, std) = Stats(Fill(new FillerParameter { Type = "gaussian", Mean = 10, Std = 0.1f }, 100, 100));
        Assert.That(mean, Is.EqualTo(10).Within(0.01));
        Assert.That(std, Is.EqualTo(0.1).Within(0.005));
    }

    [Test]
    public void SparseGaussianKeepsAboutSparseOverOutputs()
    {
        // 15 of the 100 outputs per input on average survive: about 15%.
        var d = Fill(new FillerParameter { Type = "gaussian", Std = 1, Sparse = 15 }, 100, 200).Data.ToArray();
        double nonzero = d.Count(v => v != 0) / (double)d.Length;
        Assert.That(nonzero, Is.EqualTo(0.15).Within(0.01));
    }

    [Test]
    public void PositiveUnitballRowsSumToOne()
    {
        var b = Fill(new FillerParameter { Type = "positive_unitball" }, 4, 3, 2, 5);
        var d = b.Data.ToArray();
        Assert.That(d, Is.All.InRange(0f, 1f));
        for (int r = 0; r < 4; r++) Assert.That(d.Skip(r * 30).Take(30).Sum(), Is.EqualTo(1f).Within(1e-3));
    }

    // Caffe's fact: on a 1000×2×4×5 blob, fan_in = 40, fan_out = 20000, their average 10020.
    [TestCase(FillerParameter.Types.VarianceNorm.FanIn, 40.0)]
    [TestCase(FillerParameter.Types.VarianceNorm.FanOut, 20000.0)]
    [TestCase(FillerParameter.Types.VarianceNorm.Average, 10020.0)]
    public void XavierIsUniformWithVarianceOneOverN(FillerParameter.Types.VarianceNorm norm, double n)
    {
        var b = Fill(new FillerParameter { Type = "xavier", VarianceNorm = norm }, 1000, 2, 4, 5);
        double bound = Math.Sqrt(3 / n);
        Assert.That(b.Data.ToArray(), Is.All.InRange((float)-bound, (float)bound));
        var (mean, std) = Stats(b);
        Assert.That(mean, Is.EqualTo(0).Within(0.1 * bound));
        Assert.That(std, Is.EqualTo(Math.Sqrt(1 / n)).Within(0.02 * Math.Sqrt(1 / n) + 1e-6));
    }

    [TestCase(FillerParameter.Types.VarianceNorm.FanIn, 40.0)]
    [TestCase(FillerParameter.Types.VarianceNorm.FanOut, 20000.0)]
    [TestCase(FillerParameter.Types.VarianceNorm.Average, 10020.0)]
    public void MsraIsGaussianWithVarianceTwoOverN(FillerParameter.Types.VarianceNorm norm, double n)
    {
        var (mean, std) = Stats(Fill(new FillerParameter { Type = "msra", VarianceNorm = norm }, 1000, 2, 4, 5));
        double target = Math.Sqrt(2 / n);
        Assert.That(mean, Is.EqualTo(0).Within(0.05 * target));
        Assert.That(std, Is.EqualTo(target).Within(0.02 * target));
    }

    [Test]
    public void BilinearIsTheUpsamplingKernel()
    {
        // K = 4: f = 2, c = 3/4; weights along one axis (1 − |x/2 − 3/4|) = 0.25, 0.75, 0.75, 0.25.
        var d = Fill(new FillerParameter { Type = "bilinear" }, 1, 1, 4, 4).Data.ToArray();
        float[] axis = [0.25f, 0.75f, 0.75f, 0.25f];
        for (int y = 0; y < 4; y++)
            for (int x = 0; x < 4; x++)
                Assert.That(d[y * 4 + x], Is.EqualTo(axis[y] * axis[x]).Within(1e-6));
    }

    [Test]
    public void UnknownTypeNamesTheLayerAndTheKnownTypes()
    {
        var e = Assert.Throws<EngineException>(() => Fill(new FillerParameter { Type = "xavir" }, 3))!;
        Assert.That(e.Message, Does.Contain("\"test\"").And.Contain("\"xavir\"").And.Contain("xavier"));
    }

    [Test]
    public void SameSeedSameWeights()
    {
        var p = new FillerParameter { Type = "xavier" };
        Assert.That(Fill(p, 10, 10).Data.ToArray(), Is.EqualTo(Fill(p, 10, 10).Data.ToArray()));
    }
}
