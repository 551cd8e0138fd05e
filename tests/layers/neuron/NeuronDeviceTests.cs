using Engine.Proto;
using Engine.Tests.Support;
using NUnit.Framework;

namespace Engine.Tests.Layers.Neuron;

/// <summary>The neuron layers' device code against their host code (<see cref="DeviceLayerCheck"/>).</summary>
[TestFixtureSource(typeof(DeviceLayerCheck), nameof(DeviceLayerCheck.BackendNames))]
public class NeuronDeviceTests(string backend)
{
    private static readonly int[][] Shape = [[2, 3, 5, 7]];

    private static LayerParameter P(string type) => new() { Name = type.ToLowerInvariant(), Type = type };

    [TestCase(0f, false)]
    [TestCase(0.1f, false)]
    [TestCase(-0.5f, false)]
    [TestCase(0f, true)]
    [TestCase(0.25f, true)]
    public void ReLU(float slope, bool inPlace)
    {
        var p = P("ReLU");
        if (slope != 0) p.ReluParam = new ReLUParameter { NegativeSlope = slope };
        DeviceLayerCheck.Compare(backend, p, Shape, new() { InPlace = inPlace });
    }

    [TestCase("Sigmoid", false)]
    [TestCase("Sigmoid", true)]
    [TestCase("TanH", false)]
    [TestCase("TanH", true)]
    public void Activation(string type, bool inPlace) =>
        DeviceLayerCheck.Compare(backend, P(type), Shape, new() { InPlace = inPlace, Range = (-4, 4) });

    [TestCase(1, false)]
    [TestCase(1, true)]
    [TestCase(2, false)]
    [TestCase(-1, false)]
    public void Softmax(int axis, bool inPlace)
    {
        var p = P("Softmax");
        p.SoftmaxParam = new SoftmaxParameter { Axis = axis };
        DeviceLayerCheck.Compare(backend, p, Shape, new() { InPlace = inPlace, Range = (-8, 8) });
    }
}
