using Engine.Core;
using Engine.Layers;
using Engine.Proto;
using Engine.Tests.Support;
using NUnit.Framework;

namespace Engine.Tests.Layers.Recurrent;

/// <summary>LSTM, RNN and LSTMUnit: gradients, values against PyTorch, sequence restarts, errors.</summary>
[TestFixture]
public class RecurrentLayerTests
{
    private const int T = 3, N = 2, I = 3, H = 4;

    private static LayerParameter Recurrent(string type, int numOutput = H, bool expose = false, string name = "rec") => new()
    {
        Name = name,
        Type = type,
        Phase = Phase.Train,
        RecurrentParam = new RecurrentParameter
        {
            NumOutput = (uint)numOutput,
            ExposeHidden = expose,
            WeightFiller = new FillerParameter { Type = "uniform", Min = -0.6f, Max = 0.6f },
            BiasFiller = new FillerParameter { Type = "uniform", Min = -0.3f, Max = 0.3f },
        },
    };

    private static (Layer layer, Blob[] tops) SetUp(LayerParameter param, Blob[] bottoms, int tops, ulong seed = 1701)
    {
        var layer = LayerRegistry.Create(param);
        layer.FillerRng = new Rng(seed);
        var topBlobs = Enumerable.Range(0, tops).Select(i => new Blob($"top{i}")).ToArray();
        layer.SetUp(bottoms, topBlobs);
        return (layer, topBlobs);
    }

    private static Blob Cont(int t, int n, params float[] values) => TestData.FromValues("cont", [t, n], values);

    private static void AssertClose(ReadOnlySpan<float> actual, ReadOnlySpan<float> expected, string what, double rel = 1e-4)
    {
        Assert.That(actual.Length, Is.EqualTo(expected.Length), $"{what}: count");
        for (int i = 0; i < actual.Length; i++)
        {
            double tol = rel * Math.Max(1.0, Math.Abs(expected[i]));
            if (!(Math.Abs(actual[i] - expected[i]) <= tol))
                Assert.Fail($"{what}[{i}]: got {actual[i]}, expected {expected[i]}");
        }
    }

    // ---- registry, shapes, parameters ------------------------------------------------------

    [Test]
    public void RegistryCreatesTheLayers()
    {
        Assert.That(LayerRegistry.Create(Recurrent("LSTM")), Is.InstanceOf<LSTMLayer>());
        Assert.That(LayerRegistry.Create(Recurrent("RNN")), Is.InstanceOf<RNNLayer>());
        Assert.That(LayerRegistry.Create(new LayerParameter { Name = "u", Type = "LSTMUnit" }), Is.InstanceOf<LSTMUnitLayer>());
    }

    [Test]
    public void LstmParameterLayoutIsCaffes()
    {
        var (layer, tops) = SetUp(Recurrent("LSTM"), [TestData.Random("x", [T, N, I]), Cont(T, N, 0, 0, 1, 1, 1, 1)], 1);
        Assert.That(layer.Blobs.Select(b => b.Shape.ToArray()), Is.EqualTo(new[] { new[] { 4 * H, I }, [4 * H], [4 * H, H] }));
        Assert.That(tops[0].Shape, Is.EqualTo(new[] { T, N, H }));

        var (withStatic, tops2) = SetUp(Recurrent("LSTM", expose: true),
            [TestData.Random("x", [T, N, I, 1]), Cont(T, N, 0, 0, 1, 1, 1, 1), TestData.Random("xs", [N, 5]),
             new Blob("h0", 1, N, H), new Blob("c0", 1, N, H)], 3);
        Assert.That(withStatic.Blobs.Select(b => b.Shape.ToArray()),
            Is.EqualTo(new[] { new[] { 4 * H, I }, [4 * H], [4 * H, 5], [4 * H, H] }));
        Assert.That(tops2.Select(t => t.Shape.ToArray()), Is.EqualTo(new[] { new[] { T, N, H }, [1, N, H], [1, N, H] }));
    }

    [Test]
    public void RnnParameterLayoutIsCaffes()
    {
        var (layer, _) = SetUp(Recurrent("RNN", numOutput: 5), [TestData.Random("x", [T, N, I]), Cont(T, N, 0, 0, 1, 1, 1, 1)], 1);
        Assert.That(layer.Blobs.Select(b => b.Shape.ToArray()),
            Is.EqualTo(new[] { new[] { 5, I }, [5], [5, 5], [5, 5], [5] }));
        var (withStatic, tops) = SetUp(Recurrent("RNN", numOutput: 5, expose: true),
            [TestData.Random("x", [T, N, I]), Cont(T, N, 0, 0, 1, 1, 1, 1), TestData.Random("xs", [N, 2]), new Blob("h0", 1, N, 5)], 2);
        Assert.That(withStatic.Blobs.Select(b => b.Shape.ToArray()),
            Is.EqualTo(new[] { new[] { 5, I }, [5], [5, 2], [5, 5], [5, 5], [5] }));
        Assert.That(tops[1].Shape, Is.EqualTo(new[] { 1, N, 5 }));
    }

    [Test]
    public void PrototextForm()
    {
        var (layer, tops) = SetUp(TestData.Layer("""
            name: "lstm1" type: "LSTM"
            recurrent_param { num_output: 7 weight_filler { type: "uniform" min: -0.1 max: 0.1 } bias_filler { type: "constant" value: 0 } }
            """), [TestData.Random("x", [4, 2, 3]), Cont(4, 2, 0, 0, 1, 1, 1, 1, 1, 1)], 1);
        Assert.That(tops[0].Shape, Is.EqualTo(new[] { 4, 2, 7 }));
        Assert.That(layer.Blobs[0].Data.ToArray(), Has.Some.Not.EqualTo(0f));
    }

    // ---- gradients ------------------------------------------------------------------------

    // Item 1 starts a new sequence at step 1; every item starts one at step 0, so the state carried
    // from the previous forward pass never matters.
    private static readonly float[] ContRestart = [0, 0, 1, 0, 1, 1];

    // With exposed initial states, a restart in the middle only (item 0 at step 1).
    private static readonly float[] ContExposed = [1, 1, 0, 1, 1, 1];

    [TestCase("LSTM")]
    [TestCase("RNN")]
    public void GradientWithSequenceRestart(string type)
    {
        Blob[] bottoms = [TestData.Random("x", [T, N, I], 3), Cont(T, N, ContRestart)];
        var (layer, tops) = SetUp(Recurrent(type), bottoms, 1);
        new GradientChecker(1e-2f, 1e-2f).Check(layer, bottoms, tops, [0]);
    }

    [TestCase("LSTM")]
    [TestCase("RNN")]
    public void GradientWithStaticInputAndExposedHidden(string type)
    {
        int states = type == "LSTM" ? 2 : 1;
        var bottoms = new List<Blob> { TestData.Random("x", [T, N, I], 3), Cont(T, N, ContExposed), TestData.Random("xs", [N, 2], 4) };
        for (int s = 0; s < states; s++) bottoms.Add(TestData.Random($"s0_{s}", [1, N, H], (ulong)(5 + s)));
        var (layer, tops) = SetUp(Recurrent(type, expose: true), bottoms.ToArray(), 1 + states);
        var check = new List<int> { 0, 2 };
        for (int s = 0; s < states; s++) check.Add(3 + s);
        new GradientChecker(1e-2f, 1e-2f).Check(layer, bottoms, tops, check.ToArray());
    }

    [TestCase("LSTM")]
    [TestCase("RNN")]
    public void GradientWithStaticInputOnly(string type)
    {
        Blob[] bottoms = [TestData.Random("x", [T, N, I], 3), Cont(T, N, ContRestart), TestData.Random("xs", [N, 2, 1], 4)];
        var (layer, tops) = SetUp(Recurrent(type), bottoms, 1);
        new GradientChecker(1e-2f, 1e-2f).Check(layer, bottoms, tops, [0, 2]);
    }

    [Test]
    public void LstmUnitGradient()
    {
        Blob[] bottoms = [TestData.Random("c_prev", [1, 3, H], 3), TestData.Random("x", [1, 3, 4 * H], 4, -2, 2), TestData.FromValues("cont", [1, 3], 1, 0, 1)];
        var (layer, tops) = SetUp(new LayerParameter { Name = "unit", Type = "LSTMUnit" }, bottoms, 2);
        Assert.That(tops.Select(t => t.Shape.ToArray()), Is.EqualTo(new[] { new[] { 1, 3, H }, [1, 3, H] }));
        new GradientChecker(1e-2f, 1e-2f).Check(layer, bottoms, tops, [0, 1]);
    }

    [Test]
    public void ParameterGradientsAccumulate()
    {
        Blob[] bottoms = [TestData.Random("x", [T, N, I], 3), Cont(T, N, ContRestart)];
        var (layer, tops) = SetUp(Recurrent("LSTM"), bottoms, 1);
        layer.Forward(bottoms, tops);
        TestData.Random("dy", [T, N, H], 9).Data.CopyTo(tops[0].Diff);
        foreach (var b in layer.Blobs) b.Diff.Clear();
        layer.Backward(tops, [false, false], bottoms);
        var once = layer.Blobs.Select(b => b.Diff.ToArray()).ToArray();
        layer.Backward(tops, [false, false], bottoms);
        for (int p = 0; p < layer.Blobs.Count; p++)
            AssertClose(layer.Blobs[p].Diff, once[p].Select(v => 2 * v).ToArray(), $"param {p}", 1e-5);
    }

    [TestCase("LSTM")]
    [TestCase("RNN")]
    public void ForwardAndBackwardDoNotAllocate(string type)
    {
        int states = type == "LSTM" ? 2 : 1;
        foreach (bool expose in new[] { false, true })
        {
            var bottoms = new List<Blob> { TestData.Random("x", [5, 3, I], 3), Cont(5, 3, Enumerable.Repeat(1f, 15).ToArray()), TestData.Random("xs", [3, 2], 4) };
            if (expose) for (int s = 0; s < states; s++) bottoms.Add(TestData.Random($"s0_{s}", [1, 3, H], (ulong)(5 + s)));
            var (layer, tops) = SetUp(Recurrent(type, expose: expose), bottoms.ToArray(), expose ? 1 + states : 1);
            layer.ParamPropagateDown = Enumerable.Repeat(true, layer.Blobs.Count).ToArray();
            var down = Enumerable.Range(0, bottoms.Count).Select(i => i != 1).ToArray();
            void Run()
            {
                layer.Forward(bottoms, tops);
                layer.Backward(tops, down, bottoms);
            }
            for (int i = 0; i < 5; i++) Run();
            long before = GC.GetAllocatedBytesForCurrentThread();
            for (int i = 0; i < 20; i++) Run();
            Assert.That(GC.GetAllocatedBytesForCurrentThread() - before, Is.Zero, $"{type}, expose_hidden {expose}");
        }
    }

    [Test]
    public void LstmUnitDoesNotAllocate()
    {
        Blob[] bottoms = [TestData.Random("c_prev", [1, 3, H], 3), TestData.Random("x", [1, 3, 4 * H], 4), TestData.FromValues("cont", [1, 3], 1, 0, 1)];
        var (layer, tops) = SetUp(new LayerParameter { Name = "unit", Type = "LSTMUnit" }, bottoms, 2);
        bool[] down = [true, true, false];
        for (int i = 0; i < 5; i++) { layer.Forward(bottoms, tops); layer.Backward(tops, down, bottoms); }
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 20; i++) { layer.Forward(bottoms, tops); layer.Backward(tops, down, bottoms); }
        Assert.That(GC.GetAllocatedBytesForCurrentThread() - before, Is.Zero);
    }

    // ---- values against PyTorch -----------------------------------------------------------

    private static Blob Fx(string name) => TestData.Fixture($"recurrent/{name}.npy", name);

    [Test]
    public void LstmMatchesTorchLstm()
    {
        var x = Fx("lstm_x");
        var (layer, tops) = SetUp(Recurrent("LSTM", numOutput: 6), [x, Fx("lstm_cont")], 1);
        Fx("lstm_w_xc").Data.CopyTo(layer.Blobs[0].Data);
        Fx("lstm_b_c").Data.CopyTo(layer.Blobs[1].Data);
        Fx("lstm_w_hc").Data.CopyTo(layer.Blobs[2].Data);
        layer.Forward([x, Fx("lstm_cont")], tops);
        var h = Fx("lstm_h");
        Assert.That(tops[0].Shape, Is.EqualTo(h.Shape));
        AssertClose(tops[0].Data, h.Data, "h");
    }

    [Test]
    public void LstmGradientsMatchTorchAutograd()
    {
        Blob x = Fx("lstm_x"), cont = Fx("lstm_cont");
        var (layer, tops) = SetUp(Recurrent("LSTM", numOutput: 6), [x, cont], 1);
        Fx("lstm_w_xc").Data.CopyTo(layer.Blobs[0].Data);
        Fx("lstm_b_c").Data.CopyTo(layer.Blobs[1].Data);
        Fx("lstm_w_hc").Data.CopyTo(layer.Blobs[2].Data);
        layer.ParamPropagateDown = [true, true, true];
        layer.Forward([x, cont], tops);
        Fx("lstm_dy").Data.CopyTo(tops[0].Diff);
        foreach (var b in layer.Blobs) b.Diff.Clear();
        layer.Backward(tops, [true, false], [x, cont]);
        AssertClose(x.Diff, Fx("lstm_dx").Data, "dx");
        AssertClose(layer.Blobs[0].Diff, Fx("lstm_dw_xc").Data, "dW_xc");
        AssertClose(layer.Blobs[1].Diff, Fx("lstm_db_c").Data, "db_c");
        AssertClose(layer.Blobs[2].Diff, Fx("lstm_dw_hc").Data, "dW_hc");
    }

    [Test]
    public void LstmWithStaticInputAndRestartsMatchesTheFormula()
    {
        Blob[] bottoms = [Fx("lstm_cont_x"), Fx("lstm_cont_cont"), Fx("lstm_cont_xs")];
        var (layer, tops) = SetUp(Recurrent("LSTM", numOutput: 6), bottoms, 1);
        string[] names = ["w_xc", "b_c", "w_xs", "w_hc"];
        for (int p = 0; p < names.Length; p++) Fx($"lstm_cont_{names[p]}").Data.CopyTo(layer.Blobs[p].Data);
        layer.Forward(bottoms, tops);
        AssertClose(tops[0].Data, Fx("lstm_cont_h").Data, "h");
    }

    [Test]
    public void RnnMatchesTheFormula()
    {
        Blob[] bottoms = [Fx("rnn_x"), Fx("rnn_cont"), Fx("rnn_xs")];
        var (layer, tops) = SetUp(Recurrent("RNN", numOutput: 6), bottoms, 1);
        string[] names = ["w_xh", "b_h", "w_xs", "w_hh", "w_ho", "b_o"];
        for (int p = 0; p < names.Length; p++) Fx($"rnn_{names[p]}").Data.CopyTo(layer.Blobs[p].Data);
        layer.Forward(bottoms, tops);
        AssertClose(tops[0].Data, Fx("rnn_o").Data, "o");
    }

    // ---- sequence restarts and carried state ----------------------------------------------

    private static Blob Steps(Blob b, int from, int count)
    {
        var shape = b.Shape.ToArray();
        int per = (int)b.CountFrom(1);
        shape[0] = count;
        var s = new Blob(b.Name, shape);
        b.Data.Slice(from * per, count * per).CopyTo(s.Data);
        return s;
    }

    [TestCase("LSTM")]
    [TestCase("RNN")]
    public void RestartEqualsRunningTheSuffixAlone(string type)
    {
        const int steps = 6, restart = 3;
        var x = TestData.Random("x", [steps, N, I], 21);
        var cont = Cont(steps, N, 0, 0, 1, 1, 1, 1, 0, 0, 1, 1, 1, 1);
        var (layer, tops) = SetUp(Recurrent(type), [x, cont], 1);
        layer.Forward([x, cont], tops);
        var whole = tops[0].Data.ToArray();

        var (fresh, freshTops) = SetUp(Recurrent(type), [Steps(x, restart, steps - restart), Cont(steps - restart, N, 1, 1, 1, 1, 1, 1)], 1);
        Assert.That(fresh.Blobs.Select(b => b.Data.ToArray()), Is.EqualTo(layer.Blobs.Select(b => b.Data.ToArray())), "same weights");
        fresh.Forward([Steps(x, restart, steps - restart), Cont(steps - restart, N, 1, 1, 1, 1, 1, 1)], freshTops);
        int per = N * H;
        AssertClose(whole.AsSpan(restart * per), freshTops[0].Data, "suffix", 1e-6);
        Assert.That(whole.AsSpan(restart * per).ToArray(), Is.Not.EqualTo(whole.AsSpan(0, (steps - restart) * per).ToArray()));
    }

    [TestCase("LSTM")]
    [TestCase("RNN")]
    public void StateCarriesOverToTheNextForwardWithoutExposeHidden(string type)
    {
        const int steps = 6, half = 3;
        var x = TestData.Random("x", [steps, N, I], 22);
        var (layer, tops) = SetUp(Recurrent(type), [x, Cont(steps, N, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1)], 1);
        layer.Forward([x, Cont(steps, N, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1)], tops);
        var whole = tops[0].Data.ToArray();

        Blob first = Steps(x, 0, half), second = Steps(x, half, half);
        var (chunked, ctops) = SetUp(Recurrent(type), [first, Cont(half, N, 0, 0, 1, 1, 1, 1)], 1);
        chunked.Forward([first, Cont(half, N, 0, 0, 1, 1, 1, 1)], ctops);
        AssertClose(ctops[0].Data, whole.AsSpan(0, half * N * H), "first chunk", 1e-6);
        chunked.Forward([second, Cont(half, N, 1, 1, 1, 1, 1, 1)], ctops);
        AssertClose(ctops[0].Data, whole.AsSpan(half * N * H), "second chunk continues the first", 1e-6);
    }

    [Test]
    public void ExposedFinalStateFeedsTheNextChunk()
    {
        const int steps = 6, half = 3;
        var x = TestData.Random("x", [steps, N, I], 23);
        var zeros = new[] { new Blob("h0", 1, N, H), new Blob("c0", 1, N, H) };
        var (layer, tops) = SetUp(Recurrent("LSTM", expose: true), [x, Cont(steps, N, Enumerable.Repeat(1f, steps * N).ToArray()), zeros[0], zeros[1]], 3);
        layer.Forward([x, Cont(steps, N, Enumerable.Repeat(1f, steps * N).ToArray()), zeros[0], zeros[1]], tops);
        var whole = tops[0].Data.ToArray();

        var cont = Cont(half, N, 1, 1, 1, 1, 1, 1);
        Blob first = Steps(x, 0, half), second = Steps(x, half, half);
        var (chunked, ctops) = SetUp(Recurrent("LSTM", expose: true), [first, cont, zeros[0], zeros[1]], 3);
        chunked.Forward([first, cont, zeros[0], zeros[1]], ctops);
        Blob hT = new("hT", 1, N, H), cT = new("cT", 1, N, H);
        ctops[1].Data.CopyTo(hT.Data);
        ctops[2].Data.CopyTo(cT.Data);
        AssertClose(hT.Data, whole.AsSpan((half - 1) * N * H, N * H), "hT is the last step's h", 0);
        chunked.Forward([second, cont, hT, cT], ctops);
        AssertClose(ctops[0].Data, whole.AsSpan(half * N * H), "second chunk", 1e-6);
    }

    [Test]
    public void InANetContGetsNoGradientEvenWithForceBackward()
    {
        var net = new Engine.Graph.Net(Engine.Text.ProtoText.Parse<NetParameter>("""
            force_backward: true
            layer { name: "in" type: "Input" top: "x" top: "cont" top: "h0" top: "c0"
              input_param { shape { dim: 3 dim: 2 dim: 3 } shape { dim: 3 dim: 2 } shape { dim: 1 dim: 2 dim: 4 } shape { dim: 1 dim: 2 dim: 4 } } }
            layer { name: "lstm" type: "LSTM" bottom: "x" bottom: "cont" bottom: "h0" bottom: "c0" top: "h" top: "hT" top: "cT"
              recurrent_param { num_output: 4 expose_hidden: true weight_filler { type: "uniform" min: -0.5 max: 0.5 } } }
            """), new NetState { Phase = Phase.Train }, quiet: true);
        int li = net.Layers.ToList().FindIndex(l => l.Name == "lstm");
        Assert.That(net.BottomNeedBackward[li], Is.EqualTo(new[] { true, false, true, true }));
        TestData.Random("x", [3, 2, 3]).Data.CopyTo(net.Blob("x").Data);
        net.Blob("cont").Data.Fill(1f);
        net.Forward();
        net.Blob("h").Diff.Fill(1f);
        Assert.DoesNotThrow(() => net.Backward());
        Assert.That(net.Blob("x").Diff.ToArray(), Has.Some.Not.EqualTo(0f));
    }

    // ---- errors ---------------------------------------------------------------------------

    private static string SetUpError(LayerParameter p, Blob[] bottoms, int tops) =>
        Assert.Throws<EngineException>(() => SetUp(p, bottoms, tops))!.Message;

    [Test]
    public void ErrorsNameTheLayer()
    {
        var x = TestData.Random("x", [T, N, I]);
        Assert.That(SetUpError(Recurrent("LSTM", numOutput: 0, name: "enc"), [x, Cont(T, N, new float[T * N])], 1),
            Does.Contain("\"enc\"").And.Contain("num_output"));
        Assert.That(SetUpError(new LayerParameter { Name = "enc", Type = "RNN" }, [x, Cont(T, N, new float[T * N])], 1),
            Does.Contain("\"enc\"").And.Contain("num_output"));
        Assert.That(SetUpError(Recurrent("LSTM", name: "enc"), [x, TestData.Random("cont", [T, N, 1])], 1),
            Does.Contain("\"enc\"").And.Contain("cont").And.Contain("T×N"));
        Assert.That(SetUpError(Recurrent("RNN", name: "enc"), [x, Cont(T + 1, N, new float[(T + 1) * N])], 1),
            Does.Contain("\"enc\"").And.Contain("does not match T = 3, N = 2"));
        Assert.That(SetUpError(Recurrent("RNN", name: "enc"), [x, Cont(T, N + 1, new float[T * (N + 1)])], 1),
            Does.Contain("does not match T = 3, N = 2"));
        Assert.That(SetUpError(Recurrent("LSTM", name: "enc"), [x, Cont(T, N, new float[T * N]), TestData.Random("xs", [N + 1, 2])], 1),
            Does.Contain("\"enc\"").And.Contain("static input"));
        Assert.That(SetUpError(Recurrent("LSTM", expose: true, name: "enc"),
            [x, Cont(T, N, new float[T * N]), new Blob("h0", 1, N, H + 1), new Blob("c0", 1, N, H)], 3),
            Does.Contain("\"enc\"").And.Contain("h0"));
        Assert.That(SetUpError(Recurrent("LSTM", expose: true, name: "enc"), [x, Cont(T, N, new float[T * N])], 3),
            Does.Contain("\"enc\"").And.Contain("at least 4 bottoms"));
        Assert.That(SetUpError(Recurrent("LSTM", name: "enc"), [x, Cont(T, N, new float[T * N])], 3),
            Does.Contain("\"enc\"").And.Contain("1 top"));

        var (layer, tops) = SetUp(Recurrent("RNN", name: "enc"), [x, Cont(T, N, new float[T * N])], 1);
        var ex = Assert.Throws<EngineException>(() => layer.Reshape([TestData.Random("x", [T, N, I + 1]), Cont(T, N, new float[T * N])], tops))!;
        Assert.That(ex.Message, Does.Contain("\"enc\"").And.Contain("weights take 3"));
    }

    [Test]
    public void LstmUnitShapeErrors()
    {
        var unit = new LayerParameter { Name = "cell", Type = "LSTMUnit" };
        Assert.That(SetUpError(unit, [new Blob("c", 1, 2, 3), new Blob("x", 1, 2, 11), new Blob("cont", 1, 2)], 2),
            Does.Contain("\"cell\"").And.Contain("1×2×12"));
        Assert.That(SetUpError(unit, [new Blob("c", 1, 2, 3), new Blob("x", 1, 2, 12), new Blob("cont", 1, 3)], 2),
            Does.Contain("\"cell\"").And.Contain("cont"));
        Assert.That(SetUpError(unit, [new Blob("c", 2, 2, 3), new Blob("x", 1, 2, 12), new Blob("cont", 1, 2)], 2),
            Does.Contain("c_prev"));
    }

    [Test]
    public void NoGradientForCont()
    {
        var layer = LayerRegistry.Create(Recurrent("LSTM"));
        Assert.That(layer.CanBackward(1), Is.False);
        Assert.That(layer.AllowForceBackward(1), Is.False);
        Assert.That(layer.CanBackward(0), Is.True);
    }
}
