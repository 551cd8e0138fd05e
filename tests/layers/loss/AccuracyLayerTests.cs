using Engine.Core;
using Engine.Proto;
using Engine.Tests.Support;
using NUnit.Framework;
using static Engine.Tests.Layers.NeuronLossTestHelpers;

namespace Engine.Tests.Layers.Loss;

public class AccuracyLayerTests
{
    private static LayerParameter Accuracy(uint? topK = null, int? ignore = null, int? axis = null)
    {
        var p = new LayerParameter { Name = "acc", Type = "Accuracy", Phase = Phase.Test, AccuracyParam = new AccuracyParameter() };
        if (topK is uint k) p.AccuracyParam.TopK = k;
        if (ignore is int i) p.AccuracyParam.IgnoreLabel = i;
        if (axis is int a) p.AccuracyParam.Axis = a;
        return p;
    }

    // Five items, four classes. "better" = classes scoring strictly above the label's score.
    //   row 0: (0.1, 0.5, 0.3, 0.1)      label 1: better 0        → top-1 hit, top-2 hit
    //   row 1: (0.4, 0.2, 0.3, 0.1)      label 2: better 1 (0.4)  → top-1 miss, top-2 hit
    //   row 2: (0.2, 0.2, 0.5, 0.1)      label 0: better 1 (0.5; the tie 0.2 is not above) → miss, hit
    //   row 3: (0.1, 0.2, 0.3, 0.4)      label 0: better 3        → miss, miss
    //   row 4: (0.25, 0.25, 0.25, 0.25)  label 3: better 0 (all tie) → hit, hit
    // top-1: rows 0, 4 → 2/5; top-2: rows 0, 1, 2, 4 → 4/5.
    private static readonly float[] Scores =
    [
        0.1f, 0.5f, 0.3f, 0.1f,
        0.4f, 0.2f, 0.3f, 0.1f,
        0.2f, 0.2f, 0.5f, 0.1f,
        0.1f, 0.2f, 0.3f, 0.4f,
        0.25f, 0.25f, 0.25f, 0.25f,
    ];
    private static readonly float[] LabelValues = [1, 2, 0, 0, 3];

    private static (Blob scores, Blob labels) Data() =>
        (TestData.FromValues("scores", [5, 4], Scores), TestData.FromValues("labels", [5], LabelValues));

    [TestCase(1u, 0.4f)]
    [TestCase(2u, 0.8f)]
    [TestCase(4u, 1f)]
    public void TopK(uint k, float expected)
    {
        var (scores, labels) = Data();
        var (layer, top) = SetUp(Accuracy(k), [scores, labels]);
        Assert.That(top[0].Count, Is.EqualTo(1));
        layer.Forward([scores, labels], top);
        Assert.That(top[0].Data[0], Is.EqualTo(expected).Within(1e-7));
    }

    [Test]
    public void DefaultTopKIsOne()
    {
        var (scores, labels) = Data();
        var p = Accuracy();
        p.AccuracyParam = null;
        var (layer, top) = SetUp(p, [scores, labels]);
        layer.Forward([scores, labels], top);
        Assert.That(top[0].Data[0], Is.EqualTo(0.4f).Within(1e-7));
    }

    [Test]
    public void IgnoreLabel()
    {
        // Ignoring label 0 drops rows 2 and 3: top-1 hits rows 0 and 4 of rows 0, 1, 4 → 2/3;
        // top-2 hits all three → 1.
        var (scores, labels) = Data();
        var (l1, t1) = SetUp(Accuracy(1, ignore: 0), [scores, labels]);
        l1.Forward([scores, labels], t1);
        Assert.That(t1[0].Data[0], Is.EqualTo(2f / 3).Within(1e-7));
        var (l2, t2) = SetUp(Accuracy(2, ignore: 0), [scores, labels]);
        l2.Forward([scores, labels], t2);
        Assert.That(t2[0].Data[0], Is.EqualTo(1f));

        // Everything ignored: accuracy 0, not NaN.
        var all = TestData.FromValues("labels", [5], 7, 7, 7, 7, 7);
        var (l3, t3) = SetUp(Accuracy(1, ignore: 7), [scores, all]);
        l3.Forward([scores, all], t3);
        Assert.That(t3[0].Data[0], Is.EqualTo(0f));
    }

    [Test]
    public void PerClassAccuracyOnTheSecondTop()
    {
        // top-1 per class: class 0 rows 2, 3 both missed → 0; class 1 row 0 hit → 1;
        // class 2 row 1 missed → 0; class 3 row 4 hit → 1.
        var (scores, labels) = Data();
        var (layer, top) = SetUp(Accuracy(1), [scores, labels], tops: 2);
        Assert.That(top[1].Shape, Is.EqualTo(new[] { 4 }));
        layer.Forward([scores, labels], top);
        Assert.That(top[1].Data.ToArray(), Is.EqualTo(new[] { 0f, 1f, 0f, 1f }));
        // top-2: class 0 → 1/2 (row 2 hit, row 3 missed); others 1.
        var (l2, t2) = SetUp(Accuracy(2), [scores, labels], tops: 2);
        l2.Forward([scores, labels], t2);
        Assert.That(t2[1].Data.ToArray(), Is.EqualTo(new[] { 0.5f, 1f, 1f, 1f }));
        // Every row labelled 1 (top-2): scores above class 1 are 0 in row 0, 2 in row 1 (0.4, 0.3),
        // 1 in row 2 (0.5), 2 in row 3 (0.3, 0.4), 0 in row 4 → hits rows 0, 2, 4 = 3/5.
        // Classes absent from the labels read 0.
        var few = TestData.FromValues("labels", [5], 1, 1, 1, 1, 1);
        l2.Forward([scores, few], t2);
        Assert.That(t2[1].Data.ToArray(), Is.EqualTo(new[] { 0f, 0.6f, 0f, 0f }).Within(1e-7));
        Assert.That(t2[0].Data[0], Is.EqualTo(0.6f).Within(1e-7));
    }

    [Test]
    public void SpatialPositionsAlongAxisOne()
    {
        // Scores 1×3×2 (classes on axis 1, two positions): position 0 scores (1, 5, 2) label 1 → hit;
        // position 1 scores (4, 0, 3) label 2 → miss (4 above).
        var scores = TestData.FromValues("scores", [1, 3, 2], 1, 4, 5, 0, 2, 3);
        var labels = TestData.FromValues("labels", [1, 2], 1, 2);
        var (layer, top) = SetUp(Accuracy(1), [scores, labels]);
        layer.Forward([scores, labels], top);
        Assert.That(top[0].Data[0], Is.EqualTo(0.5f));
        // With the last axis as the class axis the same numbers read as 3 rows of 2 classes:
        // (1, 4) label 1 hit, (5, 0) label 0 hit, (2, 3) label 1 hit.
        var labels3 = TestData.FromValues("labels", [1, 3], 1, 0, 1);
        var (l2, t2) = SetUp(Accuracy(1, axis: -1), [scores, labels3]);
        l2.Forward([scores, labels3], t2);
        Assert.That(t2[0].Data[0], Is.EqualTo(1f));
    }

    [Test]
    public void Errors()
    {
        var (scores, labels) = Data();
        var e = Assert.Throws<EngineException>(() => SetUp(Accuracy(5), [scores, labels]))!;
        Assert.That(e.Message, Does.Contain("\"acc\"").And.Contain("top_k 5"));
        e = Assert.Throws<EngineException>(() => SetUp(Accuracy(), [scores, new Blob("labels", 4)]))!;
        Assert.That(e.Message, Does.Contain("4 labels"));
        e = Assert.Throws<EngineException>(() => LayerRegistry.Create(Accuracy()).SetUp([scores], [new Blob("t")]))!;
        Assert.That(e.Message, Does.Contain("2 bottoms"));

        var bad = TestData.FromValues("labels", [5], 1, 2, 9, 0, 3);
        var (layer, top) = SetUp(Accuracy(), [scores, bad]);
        e = Assert.Throws<EngineException>(() => layer.Forward([scores, bad], top))!;
        Assert.That(e.Message, Does.Contain("\"acc\"").And.Contain("label 9").And.Contain("index 2"));

        layer.Forward([scores, labels], top);
        Assert.That(layer.AllowForceBackward(0), Is.False);
        e = Assert.Throws<EngineException>(() => layer.Backward(top, Down(true, false), [scores, labels]))!;
        Assert.That(e.Message, Does.Contain("\"acc\""));
        Assert.DoesNotThrow(() => layer.Backward(top, Down(false, false), [scores, labels]));
    }
}
