using Engine.Core;
using Engine.Layers;
using Engine.Proto;
using Engine.Tests.Support;
using NUnit.Framework;
using static Engine.Tests.Support.VisionTestHelpers;

namespace Engine.Tests.Layers.Vision;

[TestFixture]
public class InnerProductLayerTests
{
    private static LayerParameter Ip(InnerProductParameter p, string name = "ip") =>
        new() { Name = name, Type = "InnerProduct", InnerProductParam = p };

    private static InnerProductParameter Filled(InnerProductParameter p)
    {
        p.WeightFiller = Uniform();
        p.BiasFiller = Uniform();
        return p;
    }

    [Test]
    public void RegistryCreatesInnerProduct() =>
        Assert.That(LayerRegistry.Create(Ip(new InnerProductParameter { NumOutput = 2 })), Is.InstanceOf<InnerProductLayer>());

    [Test]
    public void ShapesFollowAxisAndTranspose()
    {
        var b = TestData.Random("data", [2, 3, 4, 5]);
        var (l1, t1) = SetUp(Ip(new InnerProductParameter { NumOutput = 10 }), [b]);
        Assert.That(t1[0].Shape, Is.EqualTo(new[] { 2, 10 }));
        Assert.That(l1.Blobs[0].Shape, Is.EqualTo(new[] { 10, 60 }));
        Assert.That(l1.Blobs[1].Shape, Is.EqualTo(new[] { 10 }));

        var (l2, t2) = SetUp(Ip(new InnerProductParameter { NumOutput = 7, Axis = -1, Transpose = true, BiasTerm = false }), [b]);
        Assert.That(t2[0].Shape, Is.EqualTo(new[] { 2, 3, 4, 7 }));
        Assert.That(l2.Blobs, Has.Count.EqualTo(1));
        Assert.That(l2.Blobs[0].Shape, Is.EqualTo(new[] { 5, 7 }));
    }

    [Test]
    public void PrototextForm()
    {
        var (layer, tops) = SetUp(TestData.Layer("""
            name: "fc" type: "InnerProduct"
            inner_product_param { num_output: 4 axis: 2 transpose: true weight_filler { type: "gaussian" std: 0.1 } }
            """), [TestData.Random("data", [2, 3, 5])]);
        Assert.That(tops[0].Shape, Is.EqualTo(new[] { 2, 3, 4 }));
        Assert.That(layer.Blobs[0].Shape, Is.EqualTo(new[] { 5, 4 }));
        Assert.That(layer.Blobs[0].Data.ToArray(), Has.Some.Not.EqualTo(0f));
    }

    [Test]
    public void ForwardIsWeightedSumPlusBias()
    {
        var b = TestData.FromValues("data", [2, 3], 1, 2, 3, 4, 5, 6);
        var (layer, tops) = SetUp(Ip(new InnerProductParameter { NumOutput = 2 }), [b]);
        new float[] { 1, 0, -1, 0.5f, 0.5f, 0.5f }.CopyTo(layer.Blobs[0].Data);
        new float[] { 10, 20 }.CopyTo(layer.Blobs[1].Data);
        layer.Forward([b], tops);
        Assert.That(tops[0].Data.ToArray(), Is.EqualTo(new float[] { 1 - 3 + 10, 3 + 20, 4 - 6 + 10, 7.5f + 20 }));
    }

    [Test]
    public void TransposeStoresWeightsInputMajor()
    {
        var b = TestData.Random("data", [3, 4], seed: 5);
        var p = Filled(new InnerProductParameter { NumOutput = 2 });
        var (plain, pt) = SetUp(Ip(p), [b]);
        var pT = p.Clone();
        pT.Transpose = true;
        var (trans, tt) = SetUp(Ip(pT), [b]);
        for (int o = 0; o < 2; o++)
            for (int k = 0; k < 4; k++)
                trans.Blobs[0].Data[k * 2 + o] = plain.Blobs[0].Data[o * 4 + k];
        plain.Blobs[1].Data.CopyTo(trans.Blobs[1].Data);
        plain.Forward([b], pt);
        trans.Forward([b], tt);
        AssertClose(tt[0].Data, pt[0].Data, "transposed forward", 1e-6);
    }

    // ---- PyTorch fixtures ------------------------------------------------------------------

    private static void CheckFixture(string c, InnerProductParameter p) => CheckFixtureCase(Ip(p, c), c);

    [Test]
    public void MatchesPyTorchAxis1() => CheckFixture("ip_axis1", new InnerProductParameter { NumOutput = 5 });

    [Test]
    public void MatchesPyTorchAxis2Transposed() => CheckFixture("ip_axis2_transpose", new InnerProductParameter { NumOutput = 3, Axis = 2, Transpose = true });

    [Test]
    public void MatchesPyTorchNoBias() => CheckFixture("ip_nobias", new InnerProductParameter { NumOutput = 3, BiasTerm = false });

    // ---- backward semantics ----------------------------------------------------------------

    [Test]
    public void ParameterGradientsAccumulate()
    {
        var b = TestData.Random("data", [3, 5]);
        var (layer, tops) = SetUp(Ip(Filled(new InnerProductParameter { NumOutput = 4 })), [b]);
        layer.Forward([b], tops);
        TestData.Random("dy", [3, 4], seed: 2).Data.CopyTo(tops[0].Diff);
        Backward(layer, [b], tops);
        var dw = layer.Blobs[0].Diff.ToArray();
        var db = layer.Blobs[1].Diff.ToArray();
        var dx = b.Diff.ToArray();
        layer.Backward(tops, [true], [b]);
        AssertClose(layer.Blobs[0].Diff, dw.Select(v => 2 * v).ToArray(), "dw twice", 1e-6);
        AssertClose(layer.Blobs[1].Diff, db.Select(v => 2 * v).ToArray(), "db twice", 1e-6);
        Assert.That(b.Diff.ToArray(), Is.EqualTo(dx));
    }

    // ---- gradient checks -------------------------------------------------------------------

    private static void GradientCheck(InnerProductParameter p, int[] shape)
    {
        CheckGradient(Ip(Filled(p)), TestData.Random("data", shape, seed: 21));
    }

    [Test]
    public void Gradient() => GradientCheck(new InnerProductParameter { NumOutput = 4 }, [2, 3, 2, 2]);

    [Test]
    public void GradientAxis2() => GradientCheck(new InnerProductParameter { NumOutput = 3, Axis = 2 }, [2, 3, 4]);

    [Test]
    public void GradientTranspose() => GradientCheck(new InnerProductParameter { NumOutput = 3, Transpose = true }, [3, 2, 3]);

    [Test]
    public void GradientNoBias() => GradientCheck(new InnerProductParameter { NumOutput = 3, BiasTerm = false }, [2, 5]);

    // ---- errors ----------------------------------------------------------------------------

    [Test]
    public void InputSizeChangeNamesLayerAndSizes()
    {
        var b = TestData.Random("data", [2, 3, 4]);
        var (layer, tops) = SetUp(Ip(new InnerProductParameter { NumOutput = 2 }, "fc7"), [b]);
        b.Reshape(2, 3, 5);
        var e = Assert.Throws<EngineException>(() => layer.Reshape([b], tops))!;
        Assert.That(e.Message, Does.Contain("\"fc7\"").And.Contain("15").And.Contain("12"));
    }

    [Test]
    public void MissingNumOutputIsAnError()
    {
        var e = Assert.Throws<EngineException>(() => SetUp(Ip(new InnerProductParameter(), "fc"), [new Blob("data", 2, 3)]))!;
        Assert.That(e.Message, Does.Contain("\"fc\"").And.Contain("num_output"));
    }

    [Test]
    public void AxisOutOfRangeIsAnError()
    {
        var e = Assert.Throws<EngineException>(() => SetUp(Ip(new InnerProductParameter { NumOutput = 2, Axis = 3 }, "fc"), [new Blob("data", 2, 3)]))!;
        Assert.That(e.Message, Does.Contain("\"fc\"").And.Contain("axis 3"));
    }
}
