using Engine.Core;
using Engine.Graph;
using Engine.Layers;
using Engine.Proto;
using Engine.Tests.Support;
using NUnit.Framework;

namespace Engine.Tests.Layers.Data;

[TestFixture]
public class MemoryDataLayerTests
{
    private static (MemoryDataLayer layer, Blob data, Blob label) Make(uint batch = 2)
    {
        var layer = new MemoryDataLayer(TestData.Layer($"name: \"mem\" type: \"MemoryData\" memory_data_param {{ batch_size: {batch} channels: 1 height: 1 width: 3 }}"));
        var data = new Blob("data");
        var label = new Blob("label");
        layer.SetUp([], [data, label]);
        return (layer, data, label);
    }

    [Test]
    public void ServesBatchesInOrderAndWraps()
    {
        var (layer, data, label) = Make();
        // Four items of three values: item i holds i·10 + (0, 1, 2), label i.
        layer.Reset([0, 1, 2, 10, 11, 12, 20, 21, 22, 30, 31, 32], [0, 1, 2, 3]);
        Assert.That(data.Shape, Is.EqualTo(new[] { 2, 1, 1, 3 }));
        layer.Forward([], [data, label]);
        Assert.That(data.Data.ToArray(), Is.EqualTo(new float[] { 0, 1, 2, 10, 11, 12 }));
        Assert.That(label.Data.ToArray(), Is.EqualTo(new float[] { 0, 1 }));
        layer.Forward([], [data, label]);
        Assert.That(label.Data.ToArray(), Is.EqualTo(new float[] { 2, 3 }));
        layer.Forward([], [data, label]);
        Assert.That(data.Data.ToArray(), Is.EqualTo(new float[] { 0, 1, 2, 10, 11, 12 }), "wraps to the start");
    }

    [Test]
    public void StateRestoresThePosition()
    {
        var (layer, data, label) = Make();
        float[] values = [0, 1, 2, 10, 11, 12, 20, 21, 22, 30, 31, 32];
        layer.Reset(values, [0, 1, 2, 3]);
        layer.Forward([], [data, label]);
        var state = layer.SaveState();
        var (other, d2, l2) = Make();
        other.Reset(values, [0, 1, 2, 3]);
        other.LoadState(state);
        other.Forward([], [d2, l2]);
        Assert.That(l2.Data.ToArray(), Is.EqualTo(new float[] { 2, 3 }));
    }

    [Test]
    public void ErrorsNameTheLayer()
    {
        var (layer, data, label) = Make();
        Assert.That(Assert.Throws<EngineException>(() => layer.Forward([], [data, label]))!.Message, Does.Contain("\"mem\"").And.Contain("Reset"));
        Assert.That(Assert.Throws<EngineException>(() => layer.Reset([1, 2, 3], [0]))!.Message, Does.Contain("not a multiple of batch_size 2"));
        Assert.That(Assert.Throws<EngineException>(() => layer.Reset([1, 2], []))!.Message, Does.Contain("whole items"));
        Assert.That(Assert.Throws<EngineException>(() => layer.Reset([1, 2, 3, 4, 5, 6], [0]))!.Message, Does.Contain("1 labels for 2 items"));
    }

    [Test]
    public void TrainsANetFromArrays()
    {
        // Two separable classes: the first value's sign is the label.
        Log.Quiet = true;
        var net = new Net(Engine.Text.ProtoText.Parse<NetParameter>("""
            layer { name: "mem" type: "MemoryData" top: "data" top: "label" memory_data_param { batch_size: 4 channels: 2 height: 1 width: 1 } }
            layer { name: "ip" type: "InnerProduct" bottom: "data" top: "ip" inner_product_param { num_output: 2 weight_filler { type: "gaussian" std: 0.1 } } }
            layer { name: "loss" type: "SoftmaxWithLoss" bottom: "ip" bottom: "label" top: "loss" }
            """), new NetState { Phase = Phase.Train }, quiet: true);
        ((MemoryDataLayer)net.Layer("mem")).Reset([1, 0.5f, -1, 0.2f, 2, -0.3f, -2, 0.1f], [1, 0, 1, 0]);
        float first = 0, last = 0;
        for (int i = 0; i < 50; i++)
        {
            net.ClearParamDiffs();
            float loss = net.ForwardBackward();
            if (i == 0) first = loss;
            last = loss;
            foreach (var p in net.LearnableParams)
                System.Numerics.Tensors.TensorPrimitives.MultiplyAdd(p.Blob.Diff, -0.5f, p.Blob.Data, p.Blob.Data);
        }
        Assert.That(last, Is.LessThan(first * 0.5f));
    }
}
