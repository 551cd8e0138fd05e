using Engine.Core;
using Engine.Proto;
using Engine.Tests.Support;
using NUnit.Framework;
using static Engine.Tests.Layers.NeuronLossTestHelpers;

namespace Engine.Tests.Layers.Neuron;

public class DropoutLayerTests
{
    private static LayerParameter Dropout(Phase phase, float? ratio = null) => new()
    {
        Name = "drop",
        Type = "Dropout",
        Phase = phase,
        DropoutParam = ratio is float r ? new DropoutParameter { DropoutRatio = r } : null,
    };

    [TestCase(0.5f)]
    [TestCase(0.3f)]
    [TestCase(0.8f)]
    public void TrainZeroesAboutTheRatioAndScalesTheRest(float ratio)
    {
        var x = TestData.Random("x", [20, 50, 10], lo: 0.5f, hi: 2f);
        var (layer, top) = SetUp(Dropout(Phase.Train, ratio), [x]);
        layer.Forward([x], top);
        int zeros = 0;
        float scale = 1f / (1f - ratio);
        for (int i = 0; i < x.Count; i++)
        {
            float y = top[0].Data[i];
            if (y == 0) zeros++;
            else Assert.That(y, Is.EqualTo(x.Data[i] * scale).Within(1e-6 * Math.Abs(y)), $"kept element {i}");
        }
        double fraction = zeros / (double)x.Count;
        // 10,000 Bernoulli draws: the standard deviation of the fraction is below 0.005.
        Assert.That(fraction, Is.EqualTo(ratio).Within(0.025));

        // Backward: the same mask and scale.
        var dy = TestData.Random("dy", [20, 50, 10], seed: 3);
        dy.Data.CopyTo(top[0].Diff);
        layer.Backward(top, Down(true), [x]);
        for (int i = 0; i < x.Count; i++)
        {
            float expected = top[0].Data[i] == 0 ? 0 : dy.Data[i] * scale;
            Assert.That(x.Diff[i], Is.EqualTo(expected).Within(1e-6 * Math.Abs(expected)), $"gradient {i}");
        }
    }

    [Test]
    public void DefaultRatioIsOneHalf()
    {
        var x = TestData.Random("x", [100, 100], lo: 1, hi: 2);
        var (layer, top) = SetUp(Dropout(Phase.Train), [x]);
        Assert.That(((Engine.Layers.DropoutLayer)layer).Ratio, Is.EqualTo(0.5f));
        layer.Forward([x], top);
        Assert.That(top[0].Data.ToArray().Count(v => v == 0) / 10000.0, Is.EqualTo(0.5).Within(0.025));
    }

    [Test]
    public void TestPhaseIsIdentity()
    {
        var x = TestData.Random("x", [4, 5, 6]);
        var (layer, top) = SetUp(Dropout(Phase.Test, 0.7f), [x]);
        layer.Forward([x], top);
        Assert.That(top[0].Data.ToArray(), Is.EqualTo(x.Data.ToArray()));
        var dy = TestData.Random("dy", [4, 5, 6], seed: 9);
        dy.Data.CopyTo(top[0].Diff);
        layer.Backward(top, Down(true), [x]);
        Assert.That(x.Diff.ToArray(), Is.EqualTo(dy.Data.ToArray()));

        // In place as well.
        var y = TestData.Random("y", [4, 5, 6]);
        var copy = y.Data.ToArray();
        var inPlace = LayerRegistry.Create(Dropout(Phase.Test, 0.7f));
        inPlace.SetUp([y], [y]);
        inPlace.Forward([y], [y]);
        Assert.That(y.Data.ToArray(), Is.EqualTo(copy));
    }

    [Test]
    public void GradientInTestPhase()
    {
        var x = TestData.Random("x", [2, 3, 4]);
        var (layer, top) = SetUp(Dropout(Phase.Test, 0.4f), [x]);
        new GradientChecker(1e-2f, 1e-3f).Check(layer, [x], top);
    }

    [Test]
    public void GradientInTrainPhaseWithAFixedMask()
    {
        var x = TestData.Random("x", [2, 3, 4, 5]);
        var (layer, top) = SetUp(Dropout(Phase.Train, 0.4f), [x]);
        var state = layer.Rng.SaveState();
        new GradientChecker(1e-2f, 1e-3f).Check(layer, [x], top, beforeForward: () => layer.Rng.LoadState(state));
    }

    [Test]
    public void RestoredRngRepeatsTheMaskAndSaveStateCarriesIt()
    {
        var x = TestData.Random("x", [1000]);
        var (layer, top) = SetUp(Dropout(Phase.Train), [x]);
        var state = layer.SaveState();
        layer.Forward([x], top);
        var first = top[0].Data.ToArray();
        layer.Forward([x], top);
        Assert.That(top[0].Data.ToArray(), Is.Not.EqualTo(first), "a new mask each pass");
        layer.LoadState(state);
        layer.Forward([x], top);
        Assert.That(top[0].Data.ToArray(), Is.EqualTo(first), "the restored generator repeats the mask");
    }

    [Test]
    public void InPlaceTrainMatchesSeparateBlobs()
    {
        var x = TestData.Random("x", [300]);
        var dy = TestData.Random("dy", [300], seed: 4);
        var (sep, top) = SetUp(Dropout(Phase.Train, 0.3f), [x]);
        var state = sep.Rng.SaveState();
        sep.Forward([x], top);
        dy.Data.CopyTo(top[0].Diff);
        sep.Backward(top, Down(true), [x]);

        var shared = new Blob("s", 300);
        x.Data.CopyTo(shared.Data);
        var inPlace = LayerRegistry.Create(Dropout(Phase.Train, 0.3f));
        inPlace.SetUp([shared], [shared]);
        inPlace.Rng.LoadState(state);
        inPlace.Forward([shared], [shared]);
        Assert.That(shared.Data.ToArray(), Is.EqualTo(top[0].Data.ToArray()));
        dy.Data.CopyTo(shared.Diff);
        inPlace.Backward([shared], Down(true), [shared]);
        Assert.That(shared.Diff.ToArray(), Is.EqualTo(x.Diff.ToArray()));
    }

    [TestCase(1f)]
    [TestCase(-0.1f)]
    [TestCase(1.5f)]
    public void RatioOutsideZeroToOneIsAnError(float ratio)
    {
        var x = new Blob("x", 4);
        var e = Assert.Throws<EngineException>(() => SetUp(Dropout(Phase.Train, ratio), [x]))!;
        Assert.That(e.Message, Does.Contain("\"drop\"").And.Contain("dropout_ratio"));
    }
}
