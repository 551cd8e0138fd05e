using Engine.Proto;
using Engine.Solvers;
using NUnit.Framework;

namespace Engine.Tests.Solvers;

/// <summary>Each policy's rate against values worked out by hand from Caffe's formulas.</summary>
[TestFixture]
public class LearningRatePolicyTests
{
    private static float Rate(SolverParameter p, int iter)
    {
        int step = 0;
        return LearningRatePolicy.Rate(p, iter, ref step);
    }

    [Test]
    public void Fixed() => Assert.That(Rate(new SolverParameter { BaseLr = 0.01f, LrPolicy = "fixed" }, 12345), Is.EqualTo(0.01f));

    [Test]
    public void Step() // 0.01 · 0.1^floor(250/100) = 0.01 · 0.01
        => Assert.That(Rate(new SolverParameter { BaseLr = 0.01f, LrPolicy = "step", Gamma = 0.1f, Stepsize = 100 }, 250), Is.EqualTo(1e-4f).Within(1e-9));

    [Test]
    public void Exp() // 0.01 · 0.99^10 = 0.0090438208
        => Assert.That(Rate(new SolverParameter { BaseLr = 0.01f, LrPolicy = "exp", Gamma = 0.99f }, 10), Is.EqualTo(0.0090438208f).Within(1e-8));

    [Test]
    public void Inv() // LeNet's schedule at 5000: 0.01 · (1 + 0.0001·5000)^−0.75 = 0.01 · 1.5^−0.75 = 0.0073778794
        => Assert.That(Rate(new SolverParameter { BaseLr = 0.01f, LrPolicy = "inv", Gamma = 0.0001f, Power = 0.75f }, 5000), Is.EqualTo(0.0073778794f).Within(1e-8));

    [Test]
    public void MultistepAdvancesOneStepPerIteration()
    {
        var p = new SolverParameter { BaseLr = 0.01f, LrPolicy = "multistep", Gamma = 0.5f, Stepvalue = { 10, 20 } };
        int step = 0;
        var rates = new List<float>();
        for (int it = 0; it <= 25; it++) rates.Add(LearningRatePolicy.Rate(p, it, ref step));
        Assert.That(rates[9], Is.EqualTo(0.01f));
        Assert.That(rates[10], Is.EqualTo(0.005f));
        Assert.That(rates[19], Is.EqualTo(0.005f));
        Assert.That(rates[25], Is.EqualTo(0.0025f));
        Assert.That(step, Is.EqualTo(2));
    }

    [Test]
    public void Poly() // 0.01 · (1 − 50/100)^2 = 0.0025
        => Assert.That(Rate(new SolverParameter { BaseLr = 0.01f, LrPolicy = "poly", Power = 2, MaxIter = 100 }, 50), Is.EqualTo(0.0025f).Within(1e-9));

    [Test]
    public void Sigmoid() // at iter = stepsize the rate is base/2; 10 steps later 0.01/(1+e^−1) = 0.0073105858
    {
        var p = new SolverParameter { BaseLr = 0.01f, LrPolicy = "sigmoid", Gamma = 0.1f, Stepsize = 50 };
        Assert.That(Rate(p, 50), Is.EqualTo(0.005f).Within(1e-9));
        Assert.That(Rate(p, 60), Is.EqualTo(0.0073105858f).Within(1e-8));
    }

    [Test]
    public void UnknownPolicyListsTheKnownOnes()
    {
        var e = Assert.Throws<EngineException>(() => Rate(new SolverParameter { BaseLr = 0.01f, LrPolicy = "cosine" }, 0))!;
        Assert.That(e.Message, Does.Contain("\"cosine\"").And.Contain("multistep"));
    }
}
