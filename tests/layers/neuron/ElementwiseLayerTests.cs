using Engine.Core;
using Engine.Proto;
using Engine.Tests.Support;
using NUnit.Framework;
using static Engine.Tests.Layers.NeuronLossTestHelpers;

namespace Engine.Tests.Layers.Neuron;

/// <summary>ReLU (plain and leaky), Sigmoid and TanH: PyTorch values, finite differences, in place.</summary>
public class ElementwiseLayerTests
{
    private static LayerParameter Relu(float slope = 0) => new()
    {
        Name = "relu",
        Type = "ReLU",
        Phase = Phase.Train,
        ReluParam = slope == 0 ? null : new ReLUParameter { NegativeSlope = slope },
    };

    private static LayerParameter ByCase(string fixture) => fixture switch
    {
        "relu" => Relu(),
        "leaky" => Relu(0.1f),
        "sigmoid" => Param("Sigmoid", "sig"),
        "tanh" => Param("TanH", "tanh"),
        _ => throw new ArgumentException(fixture),
    };

    [TestCase("relu")]
    [TestCase("leaky")]
    [TestCase("sigmoid")]
    [TestCase("tanh")]
    public void MatchesPyTorch(string fixture)
    {
        var x = Fixture($"{fixture}_x");
        var (layer, top) = SetUp(ByCase(fixture), [x]);
        layer.Forward([x], top);
        Assert.That(top[0].Shape, Is.EqualTo(x.Shape));
        AssertClose(top[0].Data, Fixture($"{fixture}_y").Data, $"{fixture} y");
        Fixture($"{fixture}_dy").Data.CopyTo(top[0].Diff);
        layer.Backward(top, Down(true), [x]);
        AssertClose(x.Diff, Fixture($"{fixture}_dx").Data, $"{fixture} dx");
    }

    [TestCase(0f)]
    [TestCase(0.1f)]
    [TestCase(-0.3f)]
    [TestCase(2.5f)]
    public void ReLUGradient(float slope)
    {
        const float step = 1e-2f;
        var x = AwayFromZero("x", [2, 3, 4, 5], 2 * step + 1e-3f);
        var (layer, top) = SetUp(Relu(slope), [x]);
        new GradientChecker(step, 1e-3f).Check(layer, [x], top);
    }

    [Test]
    public void ReLUForwardByFormula()
    {
        var x = TestData.FromValues("x", [6], -2f, -0.5f, 0f, 0.25f, 1f, 3f);
        var (layer, top) = SetUp(Relu(0.2f), [x]);
        layer.Forward([x], top);
        Assert.That(top[0].Data.ToArray(), Is.EqualTo(new[] { -0.4f, -0.1f, 0f, 0.25f, 1f, 3f }).Within(1e-7));
        top[0].Diff.Fill(1);
        layer.Backward(top, Down(true), [x]);
        // Caffe's convention: the slope applies at x = 0.
        Assert.That(x.Diff.ToArray(), Is.EqualTo(new[] { 0.2f, 0.2f, 0.2f, 1f, 1f, 1f }).Within(1e-7));
    }

    [TestCase("Sigmoid")]
    [TestCase("TanH")]
    public void SmoothGradient(string type)
    {
        var x = TestData.Random("x", [2, 3, 4, 5], lo: -3, hi: 3);
        var (layer, top) = SetUp(Param(type, type.ToLowerInvariant()), [x]);
        new GradientChecker(1e-2f, 1e-3f).Check(layer, [x], top);
    }

    [Test]
    public void SigmoidSaturatesWithoutNaN()
    {
        var x = TestData.FromValues("x", [4], -100f, -20f, 20f, 100f);
        var (layer, top) = SetUp(Param("Sigmoid", "sig"), [x]);
        layer.Forward([x], top);
        Assert.That(top[0].Data.ToArray(), Has.All.Matches<float>(v => v >= 0 && v <= 1));
        Assert.That(top[0].Data[0], Is.EqualTo(0f).Within(1e-30));
        Assert.That(top[0].Data[3], Is.EqualTo(1f));
    }

    [TestCase("ReLU", 0f)]
    [TestCase("ReLU", 0.1f)]
    [TestCase("ReLU", -0.3f)]
    [TestCase("Sigmoid", 0f)]
    [TestCase("TanH", 0f)]
    public void InPlaceMatchesSeparateBlobs(string type, float slope)
    {
        LayerParameter P() => type == "ReLU" ? Relu(slope) : Param(type, "n");
        var x = AwayFromZero("x", [3, 4, 5], 1e-3f, seed: 5);
        var dy = TestData.Random("dy", [3, 4, 5], seed: 6);

        var (sep, top) = SetUp(P(), [x]);
        sep.Forward([x], top);
        dy.Data.CopyTo(top[0].Diff);
        sep.Backward(top, Down(true), [x]);

        var shared = new Blob("x", 3, 4, 5);
        x.Data.CopyTo(shared.Data);
        var inPlace = LayerRegistry.Create(P());
        inPlace.SetUp([shared], [shared]);
        inPlace.Forward([shared], [shared]);
        Assert.That(shared.Data.ToArray(), Is.EqualTo(top[0].Data.ToArray()), "forward");
        dy.Data.CopyTo(shared.Diff);
        inPlace.Backward([shared], Down(true), [shared]);
        Assert.That(shared.Diff.ToArray(), Is.EqualTo(x.Diff.ToArray()), "backward");
    }

    [Test]
    public void PropagateDownFalseLeavesTheBottomGradient()
    {
        var x = TestData.Random("x", [10]);
        var (layer, top) = SetUp(Relu(), [x]);
        layer.Forward([x], top);
        x.Diff.Fill(7);
        top[0].Diff.Fill(1);
        layer.Backward(top, Down(false), [x]);
        Assert.That(x.Diff.ToArray(), Has.All.EqualTo(7f));
    }

    [TestCase("ReLU")]
    [TestCase("Sigmoid")]
    [TestCase("TanH")]
    [TestCase("Dropout")]
    [TestCase("Softmax")]
    public void WrongBlobCountsAreErrors(string type)
    {
        var a = new Blob("a", 2, 3);
        var b = new Blob("b", 2, 3);
        var layer = LayerRegistry.Create(Param(type, "bad"));
        var e = Assert.Throws<EngineException>(() => layer.SetUp([a, b], [new Blob("t")]))!;
        Assert.That(e.Message, Does.Contain("\"bad\"").And.Contain("1 bottom").And.Contain("got 2"));
        e = Assert.Throws<EngineException>(() => LayerRegistry.Create(Param(type, "bad")).SetUp([a], [new Blob("t"), new Blob("u")]))!;
        Assert.That(e.Message, Does.Contain("1 top").And.Contain("got 2"));
    }

    [Test]
    public void TopFollowsTheBottomShape()
    {
        var x = TestData.Random("x", [2, 3]);
        var (layer, top) = SetUp(Param("TanH", "t"), [x]);
        x.Reshape(4, 5, 6);
        layer.Reshape([x], top);
        Assert.That(top[0].Shape, Is.EqualTo(new[] { 4, 5, 6 }));
    }
}
