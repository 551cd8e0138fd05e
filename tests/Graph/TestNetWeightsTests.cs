using Engine.Core;
using Engine.Graph;
using Engine.Proto;
using Engine.Text;
using NUnit.Framework;

namespace Engine.Tests.Graph;

/// <summary>
/// A test net built on a training net's weights (what the solver does) uses them from set-up on:
/// it never makes and fills weights of its own that sharing would drop (AlexNet: 233 MiB written
/// once and kept resident), while every layer still has a gradient of its own, as after Caffe's
/// ShareTrainedLayersWith.
/// </summary>
[TestFixture]
[NonParallelizable] // counts the bytes allocated on this thread
public class TestNetWeightsTests
{
    [OneTimeSetUp]
    public void Quiet() => Log.Quiet = true;

    // "big": 1000x1000 weights + 1000 biases; "out": 10x1000 + 10; "extra" is in the TEST net only.
    private const string Text = """
        layer { name: "data" type: "DummyData" top: "data" top: "label"
          dummy_data_param { shape { dim: 2 dim: 1000 } shape { dim: 2 }
                             data_filler { type: "gaussian" std: 1 } data_filler { type: "constant" value: 1 } } }
        layer { name: "big" type: "InnerProduct" bottom: "data" top: "big"
          inner_product_param { num_output: 1000 weight_filler { type: "gaussian" std: 0.01 } bias_filler { type: "constant" value: 0.5 } } }
        layer { name: "out" type: "InnerProduct" bottom: "big" top: "out"
          inner_product_param { num_output: 10 weight_filler { type: "xavier" } } }
        layer { name: "extra" type: "InnerProduct" bottom: "out" top: "extra" include { phase: TEST }
          inner_product_param { num_output: 3 weight_filler { type: "uniform" min: 1 max: 2 } } }
        layer { name: "loss" type: "SoftmaxWithLoss" bottom: "out" bottom: "label" top: "loss" }
        """;

    private const long SharedWeightFloats = 1000 * 1000 + 1000 + 10 * 1000 + 10;

    private static Net Build(string text, Phase phase, Net? weightsFrom = null) =>
        new(ProtoText.Parse<NetParameter>(text), new NetState { Phase = phase }, seed: 1701 + (ulong)phase, quiet: true, weightsFrom: weightsFrom);

    [Test]
    public void SharedLayersTakeTheTrainingWeightsAndKeepTheirOwnGradients()
    {
        var train = Build(Text, Phase.Train);
        var test = Build(Text, Phase.Test, weightsFrom: train);
        foreach (var name in new[] { "big", "out" })
        {
            var (mine, theirs) = (test.Layer(name).Blobs, train.Layer(name).Blobs);
            Assert.That(mine, Has.Count.EqualTo(theirs.Count), name);
            for (int i = 0; i < mine.Count; i++)
            {
                Assert.That(mine[i].DataMemory, Is.SameAs(theirs[i].DataMemory), $"{name}[{i}] data");
                Assert.That(mine[i].DiffMemory, Is.Not.SameAs(theirs[i].DiffMemory), $"{name}[{i}] has a gradient of its own");
                Assert.That(mine[i].Shape, Is.EqualTo(theirs[i].Shape), $"{name}[{i}] shape");
                Assert.That(mine[i].Name, Is.EqualTo($"{name}[{i}]"), "named as the net names its parameters");
            }
        }
        Assert.That(test.Layer("big").Blobs[1].Data.ToArray(), Is.All.EqualTo(0.5f), "the training net's bias filler");
        // A layer only the test net has keeps weights of its own, from its filler.
        var extra = test.Layer("extra").Blobs[0];
        Assert.That(extra.Data.ToArray(), Is.All.InRange(1f, 2f));
        Assert.That(test.LearnableParams.Select(p => p.Blob.Count).Sum(), Is.EqualTo(SharedWeightFloats + 3 * 10 + 3));

        // Forward on the shared weights gives what the test net gives after sharing them the old way.
        var separate = Build(Text, Phase.Test);
        separate.ShareTrainedLayersWith(train);
        train.Layer("out").Blobs[0].Data[7] += 1f; // a change to the training weights is seen by both
        test.Forward();
        separate.Forward();
        Assert.That(test.Blob("out").Data.ToArray(), Is.EqualTo(separate.Blob("out").Data.ToArray()));
    }

    [Test]
    public void NoWeightsAreAllocatedForSharedLayers()
    {
        var train = Build(Text, Phase.Train);
        // The least of three builds each: JIT, first-time costs and the odd growth of a cache
        // shared with other tests land in one build, not in all three.
        long shared = Enumerable.Range(0, 3).Min(_ => Allocated(() => Build(Text, Phase.Test, weightsFrom: train)));
        long own = Enumerable.Range(0, 3).Min(_ => Allocated(() => Build(Text, Phase.Test)));
        // Building it with weights of its own allocates their data arrays more, 4,044,040 bytes;
        // the rest (blob objects, shape arrays, the arrays' headers) is a few hundred bytes either way.
        const long weightBytes = SharedWeightFloats * sizeof(float);
        Assert.That(own - shared, Is.InRange(weightBytes - 4096, weightBytes + 4096));
    }

    [Test]
    public void ShapeMismatchNamesBothNets()
    {
        var train = Build(Text, Phase.Train);
        var e = Assert.Throws<EngineException>(() => Build(Text.Replace("num_output: 10 ", "num_output: 11 "), Phase.Test, weightsFrom: train))!;
        Assert.That(e.Message, Does.Contain("\"out\"").And.Contain("Train net"));
    }

    private static long Allocated(Action action)
    {
        long before = GC.GetAllocatedBytesForCurrentThread();
        action();
        return GC.GetAllocatedBytesForCurrentThread() - before;
    }
}
