using Engine.Core;
using Engine.IO;
using Engine.Proto;
using Engine.Solvers;
using Engine.Tests.Support;
using Engine.Text;
using NUnit.Framework;

namespace Engine.Tests.Solvers;

/// <summary>
/// Each solver's update rule on a quadratic: the InnerProduct's weight (2×3, lr_mult 1,
/// decay_mult 1) and bias (2, lr_mult 2, decay_mult 0) get the gradient c·(p − t), set by hand
/// into their diffs, and the solver's own update runs (regularisation, the rule, w −= step).
/// The oracle is the rule of caffe-catalog.md (b) written out in double; the fixtures are
/// torch.optim's trajectories (tests/fixtures/make_solver_fixtures.py).
/// </summary>
[TestFixture]
public class UpdateRuleTests
{
    [OneTimeSetUp]
    public void Quiet() => Log.Quiet = true;

    internal const string Net = """
        layer { name: "data" type: "DummyData" top: "data" top: "label"
          dummy_data_param { shape { dim: 2 dim: 3 } shape { dim: 2 }
            data_filler { type: "uniform" min: -1 max: 1 } data_filler { type: "constant" value: 1 } } }
        layer { name: "ip" type: "InnerProduct" bottom: "data" top: "ip"
          param { lr_mult: 1 decay_mult: 1 } param { lr_mult: 2 decay_mult: 0 }
          inner_product_param { num_output: 2 weight_filler { type: "gaussian" std: 0.5 } bias_filler { type: "constant" value: 0.1 } } }
        layer { name: "loss" type: "SoftmaxWithLoss" bottom: "ip" bottom: "label" top: "loss" }
        """;

    private static readonly double[] LrMult = [1, 1, 1, 1, 1, 1, 2, 2];
    private static readonly double[] DecayMult = [1, 1, 1, 1, 1, 1, 0, 0];

    /// <summary>The hyper-parameters of each case (the fixture script uses the same).</summary>
    internal static SolverParameter Hyper(string type) => type switch
    {
        "SGD" => new() { Type = type, BaseLr = 0.1f, Momentum = 0.9f },
        "Nesterov" => new() { Type = type, BaseLr = 0.1f, Momentum = 0.9f },
        "AdaGrad" => new() { Type = type, BaseLr = 0.1f, Delta = 1e-6f },
        "RMSProp" => new() { Type = type, BaseLr = 0.01f, RmsDecay = 0.9f, Delta = 1e-6f },
        "AdaDelta" => new() { Type = type, BaseLr = 1.0f, Momentum = 0.9f, Delta = 1e-6f },
        "Adam" => new() { Type = type, BaseLr = 0.01f, Momentum = 0.9f, Momentum2 = 0.999f, Delta = 1e-8f },
        _ => throw new ArgumentException(type),
    };

    internal static Solver Make(string type, float weightDecay = 0.01f, Action<SolverParameter>? tweak = null)
    {
        var p = Hyper(type);
        p.NetParam = ProtoText.Parse<NetParameter>(Net);
        p.WeightDecay = weightDecay;
        p.LrPolicy = "fixed";
        p.MaxIter = 10;
        p.RandomSeed = 3;
        p.SolverMode = SolverParameter.Types.SolverMode.Cpu;
        tweak?.Invoke(p);
        return SolverFactory.Create(p, quiet: true);
    }

    private static float[] Params(Solver s)
    {
        var ip = s.TrainNet.Layer("ip");
        return [.. ip.Blobs[0].Data.ToArray(), .. ip.Blobs[1].Data.ToArray()];
    }

    private static void SetParams(Solver s, float[] p)
    {
        var ip = s.TrainNet.Layer("ip");
        p.AsSpan(0, 6).CopyTo(ip.Blobs[0].Data);
        p.AsSpan(6, 2).CopyTo(ip.Blobs[1].Data);
    }

    /// <summary>Set diff = c·(p − t) in float, as the fixture script does, and update once.</summary>
    private static void Step(Solver s, float[] t, float[] c)
    {
        var ip = s.TrainNet.Layer("ip");
        var p = Params(s);
        var g = new float[8];
        for (int i = 0; i < 8; i++) g[i] = c[i] * (p[i] - t[i]);
        g.AsSpan(0, 6).CopyTo(ip.Blobs[0].Diff);
        g.AsSpan(6, 2).CopyTo(ip.Blobs[1].Diff);
        s.UpdateFromCurrentDiffs();
    }

    /// <summary>The rules of caffe-catalog.md (b), in double, over <paramref name="steps"/> steps.</summary>
    private static double[][] Oracle(string type, SolverParameter h, double decay, float[] p0, float[] t, float[] c, int steps)
    {
        var w = p0.Select(v => (double)v).ToArray();
        var h1 = new double[8];
        var h2 = new double[8];
        double mu = h.Momentum, delta = h.Delta;
        var result = new List<double[]>();
        for (int it = 0; it < steps; it++)
        {
            for (int i = 0; i < 8; i++)
            {
                double lr = h.BaseLr * LrMult[i];
                double g = c[i] * (w[i] - t[i]) + decay * DecayMult[i] * w[i];
                double step;
                switch (type)
                {
                    case "SGD":
                        h1[i] = mu * h1[i] + lr * g;
                        step = h1[i];
                        break;
                    case "Nesterov":
                        double v = h1[i];
                        h1[i] = mu * v + lr * g;
                        step = (1 + mu) * h1[i] - mu * v;
                        break;
                    case "AdaGrad":
                        h1[i] += g * g;
                        step = lr * g / (Math.Sqrt(h1[i]) + delta);
                        break;
                    case "RMSProp":
                        h1[i] = h.RmsDecay * h1[i] + (1 - h.RmsDecay) * g * g;
                        step = lr * g / (Math.Sqrt(h1[i]) + delta);
                        break;
                    case "AdaDelta":
                        h1[i] = mu * h1[i] + (1 - mu) * g * g;
                        double u = g * Math.Sqrt((h2[i] + delta) / (h1[i] + delta));
                        h2[i] = mu * h2[i] + (1 - mu) * u * u;
                        step = lr * u;
                        break;
                    case "Adam":
                        double b1 = mu, b2 = h.Momentum2;
                        h1[i] = b1 * h1[i] + (1 - b1) * g;
                        h2[i] = b2 * h2[i] + (1 - b2) * g * g;
                        int tt = it + 1;
                        step = lr * Math.Sqrt(1 - Math.Pow(b2, tt)) / (1 - Math.Pow(b1, tt)) * h1[i] / (Math.Sqrt(h2[i]) + delta);
                        break;
                    default:
                        throw new ArgumentException(type);
                }
                w[i] -= step;
            }
            result.Add((double[])w.Clone());
        }
        return result.ToArray();
    }

    public static readonly string[] Types = ["SGD", "Nesterov", "AdaGrad", "RMSProp", "AdaDelta", "Adam"];

    [TestCaseSource(nameof(Types))]
    public void ThreeStepsMatchTheRuleComputedByHand(string type)
    {
        var s = Make(type);
        Assert.That(s.TypeName, Is.EqualTo(type));
        float[] p0 = [0.3f, -0.7f, 0.9f, -0.2f, 0.5f, -1.1f, 0.25f, -0.4f];
        float[] t = [-0.5f, 0.4f, 0.1f, 0.8f, -0.6f, 0.2f, -0.3f, 0.6f];
        float[] c = [1.0f, 0.5f, 2.0f, 1.5f, 0.8f, 1.2f, 0.7f, 1.9f];
        SetParams(s, p0);
        var expected = Oracle(type, Hyper(type), 0.01, p0, t, c, 3);
        for (int k = 0; k < 3; k++)
        {
            Step(s, t, c);
            Assert.That(Params(s), Is.EqualTo(expected[k].Select(v => (float)v).ToArray()).Within(1e-5), $"{type}: parameters after step {k + 1}");
        }
        Assert.That(s.Iter, Is.EqualTo(3));
    }

    [TestCase("SGD", "sgd")]
    [TestCase("Nesterov", "nesterov")]
    [TestCase("AdaGrad", "adagrad")]
    [TestCase("RMSProp", "rmsprop")]
    [TestCase("AdaDelta", "adadelta")]
    [TestCase("Adam", "adam")]
    [TestCase("Adam", "adam_caffe")]
    public void FiveStepsMatchPyTorch(string type, string fixture)
    {
        var init = TestData.Fixture("solvers/init.npy").Data.ToArray();
        var expected = TestData.Fixture($"solvers/{fixture}.npy").Data.ToArray();
        var (p0, t, c) = (init[..8], init[8..16], init[16..24]);
        var s = Make(type);
        SetParams(s, p0);
        for (int k = 0; k < 5; k++)
        {
            Step(s, t, c);
            Assert.That(Params(s), Is.EqualTo(expected[(k * 8)..(k * 8 + 8)]).Within(2e-6), $"{type}: parameters after step {k + 1} vs {fixture}.npy");
        }
    }

    [TestCase("SGD", 1)]
    [TestCase("Nesterov", 1)]
    [TestCase("AdaGrad", 1)]
    [TestCase("RMSProp", 1)]
    [TestCase("AdaDelta", 2)]
    [TestCase("Adam", 2)]
    public void HistoryIsLaidOutAsCaffeSavesIt(string type, int perParam)
    {
        var dir = Path.Combine(Path.GetTempPath(), "engine-hist-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        try
        {
            var s = Make(type, 0, p => p.SnapshotPrefix = Path.Combine(dir, "h"));
            float[] t = [0, 0, 0, 0, 0, 0, 0, 0], c = [1, 1, 1, 1, 1, 1, 1, 1];
            SetParams(s, [1, 2, 3, 4, 5, 6, 7, 8]);
            Step(s, t, c); // g = p
            var (_, state) = s.Snapshot();
            var st = SolverState.Parser.ParseFrom(File.ReadAllBytes(state));
            Assert.That(st.History, Has.Count.EqualTo(2 * perParam), "history blobs for 2 learnable params");
            Assert.That(st.History.Select(b => string.Join("x", b.Shape.Dim)),
                Is.EqualTo(Enumerable.Repeat(new[] { "2x3", "2" }, perParam).SelectMany(x => x)));
            if (type == "Adam")
            {
                // First all m = (1 − β1)·g, then all v = (1 − β2)·g².
                Assert.That(st.History[0].Data, Is.EqualTo(new[] { 0.1f, 0.2f, 0.3f, 0.4f, 0.5f, 0.6f }).Within(1e-6));
                Assert.That(st.History[1].Data, Is.EqualTo(new[] { 0.7f, 0.8f }).Within(1e-6));
                Assert.That(st.History[2].Data, Is.EqualTo(new[] { 0.001f, 0.004f, 0.009f, 0.016f, 0.025f, 0.036f }).Within(1e-6));
                Assert.That(st.History[3].Data, Is.EqualTo(new[] { 0.049f, 0.064f }).Within(1e-6));
            }
            if (type == "AdaDelta")
            {
                // First all h1 = (1 − m)·g², then all h2 of the squared updates.
                Assert.That(st.History[0].Data[2], Is.EqualTo(0.9f).Within(1e-5));
                Assert.That(st.History[3].Data[0], Is.GreaterThan(0).And.LessThan(1e-5));
            }
            // A solver with another history count refuses this state.
            var other = Make(perParam == 2 ? "SGD" : "Adam", 0);
            var e = Assert.Throws<EngineException>(() => other.Restore(state))!;
            Assert.That(e.Message, Does.Contain("history blobs"));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [TestCase("AdaGrad")]
    [TestCase("RMSProp")]
    public void MomentumIsRejectedWhereCaffeRejectsIt(string type)
    {
        var e = Assert.Throws<EngineException>(() => Make(type, tweak: p => p.Momentum = 0.9f))!;
        Assert.That(e.Message, Does.Contain("momentum").And.Contain(type));
    }

    [Test]
    public void RmsDecayMustLieBelowOne()
    {
        var e = Assert.Throws<EngineException>(() => Make("RMSProp", tweak: p => p.RmsDecay = 1f))!;
        Assert.That(e.Message, Does.Contain("rms_decay"));
    }

    [TestCase("SGD", "SGD")]
    [TestCase("NESTEROV", "Nesterov")]
    [TestCase("ADAGRAD", "AdaGrad")]
    [TestCase("RMSPROP", "RMSProp")]
    [TestCase("ADADELTA", "AdaDelta")]
    [TestCase("ADAM", "Adam")]
    public void SolverFilesGiveEachType(string solverType, string type)
    {
        var dir = Path.Combine(Path.GetTempPath(), "engine-type-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        try
        {
            var net = Net.Replace("\n", " ");
            var old = Path.Combine(dir, "old.prototxt");
            File.WriteAllText(old, $"net_param {{ {net} }} base_lr: 0.01 lr_policy: \"fixed\" solver_type: {solverType}\n");
            Assert.That(SolverFactory.FromFile(old, quiet: true).TypeName, Is.EqualTo(type), "deprecated solver_type");
            var cur = Path.Combine(dir, "new.prototxt");
            File.WriteAllText(cur, $"net_param {{ {net} }} base_lr: 0.01 lr_policy: \"fixed\" type: \"{type}\"\n");
            Assert.That(SolverFactory.FromFile(cur, quiet: true).TypeName, Is.EqualTo(type), "type");
            Assert.That(NetFiles.ReadSolver(old).Type, Is.EqualTo(type));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Test]
    public void L1RegularizationAddsDecayTimesSign()
    {
        // SGD without momentum: w −= lr·lr_mult·(g + weight_decay·decay_mult·sign(w)).
        var s = Make("SGD", 0.1f, p => { p.Momentum = 0; p.RegularizationType = "L1"; });
        float[] p0 = [0.3f, -0.7f, 0.9f, -0.2f, 0.5f, -1.1f, 0.25f, -0.4f];
        float[] t = [0, 0, 0, 0, 0, 0, 0, 0], c = [0, 0, 0, 0, 0, 0, 0, 0]; // g = 0: only the L1 term
        SetParams(s, p0);
        Step(s, t, c);
        // weights: w − 0.1·0.1·sign(w); bias (decay_mult 0): unchanged.
        float[] expected = [0.29f, -0.69f, 0.89f, -0.19f, 0.49f, -1.09f, 0.25f, -0.4f];
        Assert.That(Params(s), Is.EqualTo(expected).Within(1e-6));
    }

    [Test]
    public void ClipGradientsScalesTheGlobalNormDownToTheLimit()
    {
        // g = p (t = 0, c = 1): norm √(1+4+…+64) = √204 > 2, so every diff is scaled by 2/√204.
        var s = Make("SGD", 0, p => { p.Momentum = 0; p.ClipGradients = 2; });
        float[] p0 = [1, 2, 3, 4, 5, 6, 7, 8];
        SetParams(s, p0);
        Step(s, new float[8], [1, 1, 1, 1, 1, 1, 1, 1]);
        double scale = 2 / Math.Sqrt(204);
        var expected = p0.Select((v, i) => (float)(v - 0.1 * LrMult[i] * scale * v)).ToArray();
        Assert.That(Params(s), Is.EqualTo(expected).Within(1e-6));

        // Under the limit nothing is scaled: g = 0.1·p has norm 1.43 < 2.
        var s2 = Make("SGD", 0, p => { p.Momentum = 0; p.ClipGradients = 2; });
        SetParams(s2, p0);
        Step(s2, new float[8], [0.1f, 0.1f, 0.1f, 0.1f, 0.1f, 0.1f, 0.1f, 0.1f]);
        var expected2 = p0.Select((v, i) => (float)(v - 0.1 * LrMult[i] * 0.1 * v)).ToArray();
        Assert.That(Params(s2), Is.EqualTo(expected2).Within(1e-6));
    }
}
