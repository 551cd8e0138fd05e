using Engine.Core;
using Engine.Layers;
using Engine.Proto;
using NUnit.Framework;

namespace Engine.Tests.Layers.Data;

/// <summary>The shared transform: per-channel means, float records, crop and mirror placement.</summary>
[TestFixture]
public class DataTransformerTests
{
    private static EngineException Err(string m) => new($"layer \"t\" (Data): {m}");

    // Two channels of 2×3: channel 0 = 0..5, channel 1 = 100..105.
    private static readonly byte[] Record = [0, 1, 2, 3, 4, 5, 100, 101, 102, 103, 104, 105];

    [Test]
    public void PerChannelMeanThenScale()
    {
        var t = new DataTransformer(new TransformationParameter { MeanValue = { 1, 100 }, Scale = 2 }, Phase.Test, Err);
        Assert.That(t.OutputSize(2, 2, 3), Is.EqualTo((2, 3)));
        var output = new float[12];
        t.Transform(Record, 2, 2, 3, output, new Rng(1));
        Assert.That(output, Is.EqualTo(new float[] { -2, 0, 2, 4, 6, 8, 0, 2, 4, 6, 8, 10 }));

        var floats = Record.Select(b => (float)b).ToArray();
        var fromFloats = new float[12];
        t.Transform(floats, 2, 2, 3, fromFloats, new Rng(1));
        Assert.That(fromFloats, Is.EqualTo(output));
    }

    [Test]
    public void OneMeanForAllChannels()
    {
        var t = new DataTransformer(new TransformationParameter { MeanValue = { 0.5f } }, Phase.Train, Err);
        var output = new float[12];
        t.Transform(Record, 2, 2, 3, output, new Rng(1));
        Assert.That(output[0], Is.EqualTo(-0.5f));
        Assert.That(output[11], Is.EqualTo(104.5f));
    }

    [Test]
    public void MeanCountMustMatchTheChannels()
    {
        var t = new DataTransformer(new TransformationParameter { MeanValue = { 1, 2, 3 } }, Phase.Train, Err);
        var e = Assert.Throws<EngineException>(() => t.OutputSize(2, 2, 3))!;
        Assert.That(e.Message, Does.Contain("3 mean_value entries for 2-channel data"));
    }

    [Test]
    public void CentreCropAndMirrorOnTwoChannels()
    {
        // TEST: crop 2 of 2×3 → row offset 0, column offset (3−2)/2 = 0.
        var t = new DataTransformer(new TransformationParameter { CropSize = 2 }, Phase.Test, Err);
        Assert.That(t.OutputSize(2, 2, 3), Is.EqualTo((2, 2)));
        var output = new float[8];
        t.Transform(Record, 2, 2, 3, output, new Rng(1));
        Assert.That(output, Is.EqualTo(new float[] { 0, 1, 3, 4, 100, 101, 103, 104 }));

        // The same coin applies to every channel of a record.
        var m = new DataTransformer(new TransformationParameter { Mirror = true }, Phase.Test, Err);
        var rng = new Rng(5);
        var seen = new HashSet<string>();
        for (int k = 0; k < 40; k++)
        {
            var o = new float[12];
            m.Transform(Record, 2, 2, 3, o, rng);
            seen.Add(string.Join(" ", o));
        }
        Assert.That(seen, Is.EquivalentTo(new[]
        {
            "0 1 2 3 4 5 100 101 102 103 104 105",
            "2 1 0 5 4 3 102 101 100 105 104 103",
        }));
    }

    [Test]
    public void NoRandomDrawsWithoutMirrorOrTrainCrop()
    {
        var t = new DataTransformer(new TransformationParameter { CropSize = 2, Scale = 3 }, Phase.Test, Err);
        var rng = new Rng(9);
        var before = rng.SaveState();
        t.Transform(Record, 2, 2, 3, new float[8], rng);
        Assert.That(rng.SaveState(), Is.EqualTo(before));
    }
}
