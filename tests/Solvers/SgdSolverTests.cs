using Engine.Core;
using Engine.Proto;
using Engine.Solvers;
using Engine.Text;
using NUnit.Framework;

namespace Engine.Tests.Solvers;

/// <summary>SGD's first steps against the update computed by hand (in double) from its formula.</summary>
[TestFixture]
public class SgdSolverTests
{
    [OneTimeSetUp]
    public void Quiet() => Log.Quiet = true;

    private const string Net = """
        layer { name: "data" type: "DummyData" top: "data" top: "label"
          dummy_data_param { shape { dim: 2 dim: 3 } shape { dim: 2 }
            data_filler { type: "uniform" min: -1 max: 1 } data_filler { type: "constant" value: 1 } } }
        layer { name: "ip" type: "InnerProduct" bottom: "data" top: "ip"
          param { lr_mult: 1 decay_mult: 1 } param { lr_mult: 2 decay_mult: 0 }
          inner_product_param { num_output: 2 weight_filler { type: "gaussian" std: 0.5 } bias_filler { type: "constant" value: 0.1 } } }
        layer { name: "loss" type: "SoftmaxWithLoss" bottom: "ip" bottom: "label" top: "loss" }
        """;

    [Test]
    public void TwoStepsMatchTheHandComputedUpdate()
    {
        const double lr = 0.1, momentum = 0.9, decay = 0.01;
        var param = new SolverParameter
        {
            NetParam = ProtoText.Parse<NetParameter>(Net),
            BaseLr = (float)lr,
            Momentum = (float)momentum,
            WeightDecay = (float)decay,
            LrPolicy = "fixed",
            MaxIter = 2,
            RandomSeed = 3,
            SolverMode = SolverParameter.Types.SolverMode.Cpu,
        };
        var solver = SolverFactory.Create(param, quiet: true);
        var ip = solver.TrainNet.Layer("ip");
        var w = ip.Blobs[0].Data.ToArray().Select(v => (double)v).ToArray(); // 2×3
        var b = ip.Blobs[1].Data.ToArray().Select(v => (double)v).ToArray(); // 2
        var vw = new double[6];
        var vb = new double[2];
        for (int step = 0; step < 2; step++)
        {
            solver.Step(1);
            var x = solver.TrainNet.Blob("data").Data.ToArray(); // the batch this step used
            var gw = new double[6];
            var gb = new double[2];
            for (int n = 0; n < 2; n++)
            {
                var z = new double[2];
                for (int o = 0; o < 2; o++) z[o] = b[o] + Enumerable.Range(0, 3).Sum(k => w[o * 3 + k] * x[n * 3 + k]);
                double m = Math.Max(z[0], z[1]);
                double e0 = Math.Exp(z[0] - m), e1 = Math.Exp(z[1] - m);
                double[] p = [e0 / (e0 + e1), e1 / (e0 + e1)];
                for (int o = 0; o < 2; o++)
                {
                    double d = (p[o] - (o == 1 ? 1 : 0)) / 2; // label 1, VALID normalization over 2 items
                    gb[o] += d;
                    for (int k = 0; k < 3; k++) gw[o * 3 + k] += d * x[n * 3 + k];
                }
            }
            for (int i = 0; i < 6; i++)
            {
                vw[i] = momentum * vw[i] + lr * (gw[i] + decay * w[i]);
                w[i] -= vw[i];
            }
            for (int i = 0; i < 2; i++)
            {
                vb[i] = momentum * vb[i] + 2 * lr * gb[i];
                b[i] -= vb[i];
            }
            Assert.That(ip.Blobs[0].Data.ToArray(), Is.EqualTo(w.Select(v => (float)v).ToArray()).Within(1e-5), $"weights after step {step + 1}");
            Assert.That(ip.Blobs[1].Data.ToArray(), Is.EqualTo(b.Select(v => (float)v).ToArray()).Within(1e-5), $"bias after step {step + 1}");
        }
        Assert.That(solver.Iter, Is.EqualTo(2));
    }

    [Test]
    public void SameSeedGivesTheSameWeightsBitForBit()
    {
        float[] Train()
        {
            var param = new SolverParameter
            {
                NetParam = ProtoText.Parse<NetParameter>(Net),
                BaseLr = 0.1f,
                Momentum = 0.9f,
                LrPolicy = "fixed",
                MaxIter = 5,
                RandomSeed = 11,
                SolverMode = SolverParameter.Types.SolverMode.Cpu,
                SnapshotAfterTrain = false,
            };
            var s = SolverFactory.Create(param, quiet: true);
            s.Solve();
            return s.TrainNet.Layer("ip").Blobs[0].Data.ToArray();
        }
        Assert.That(Train(), Is.EqualTo(Train()));
    }

    [Test]
    public void UnknownSolverTypeIsAnError()
    {
        var param = new SolverParameter { NetParam = ProtoText.Parse<NetParameter>(Net), Type = "Adamm", BaseLr = 0.1f, LrPolicy = "fixed" };
        var e = Assert.Throws<EngineException>(() => SolverFactory.Create(param, quiet: true))!;
        Assert.That(e.Message, Does.Contain("\"Adamm\"").And.Contain("SGD"));
    }
}
