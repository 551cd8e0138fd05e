using Engine.Core;
using Engine.Graph;
using Engine.Layers;
using Engine.Proto;
using Engine.Text;
using NUnit.Framework;

namespace Engine.Tests.Graph;

/// <summary>
/// BatchNorm followed by an in-place per-channel Scale runs as one pair on the CPU. Oracles: the
/// forward and the gradients written out in double in the test (batch statistics, y = s·x̂ + b,
/// dx = s/σ̂·(dy − mean dy − x̂·mean(dy·x̂)), ds = Σdy·x̂, db = Σdy), central differences of the
/// loss for a few inputs, and the same net run unfused (debug_info on).
/// </summary>
[TestFixture]
public class BatchNormScaleFusionTests
{
    [OneTimeSetUp]
    public void Quiet() => Log.Quiet = true;

    private const int N = 4, C = 3, H = 5, W = 6, Sp = H * W;

    private static string NetText(string between, string scaleBottom, string scaleTop, string bnExtra, string scaleExtra) => $$"""
        force_backward: true
        layer { name: "data" type: "Input" top: "data" top: "target"
          input_param { shape { dim: {{N}} dim: {{C}} dim: {{H}} dim: {{W}} } shape { dim: {{N}} dim: {{C}} dim: {{H}} dim: {{W}} } } }
        layer { name: "bn" type: "BatchNorm" bottom: "data" top: "bn" {{bnExtra}} }
        {{between}}
        layer { name: "scale" type: "Scale" bottom: "{{scaleBottom}}" top: "{{scaleTop}}" scale_param { bias_term: true } {{scaleExtra}} }
        layer { name: "loss" type: "EuclideanLoss" bottom: "{{scaleTop}}" bottom: "target" top: "loss" }
        """;

    private static Net Build(Phase phase, string between = "", string scaleBottom = "bn", string scaleTop = "bn",
        string bnExtra = "", string scaleExtra = "")
    {
        var net = new Net(ProtoText.Parse<NetParameter>(NetText(between, scaleBottom, scaleTop, bnExtra, scaleExtra)), new NetState { Phase = phase }, seed: 1701, quiet: true);
        var rng = new Random(7);
        foreach (var name in new[] { "data", "target" })
        {
            var d = net.Blob(name).Data;
            for (int i = 0; i < d.Length; i++) d[i] = (float)(rng.NextDouble() * 4 - 1);
        }
        var scale = net.Layer("scale");
        for (int c = 0; c < C; c++)
        {
            scale.Blobs[0].Data[c] = 0.5f + c * 0.75f;
            scale.Blobs[1].Data[c] = c - 1.25f;
        }
        var bn = net.Layer("bn");
        if (phase == Phase.Test || bnExtra.Contains("use_global_stats: true"))
        {
            // Stored statistics: sums with scale factor 2 (mean = sum / 2).
            for (int c = 0; c < C; c++)
            {
                bn.Blobs[0].Data[c] = 0.4f * c - 0.2f;
                bn.Blobs[1].Data[c] = 1.5f + c;
            }
            bn.Blobs[2].Data[0] = 2f;
        }
        return net;
    }

    private static int At(int n, int c, int s) => (n * C + c) * Sp + s;

    /// <summary>Per channel mean and 1/√(var + eps): of the batch (biased variance) or the stored ones.</summary>
    private static (double[] Mean, double[] InvStd) Statistics(Net net, float[] x, Phase phase)
    {
        var mean = new double[C];
        var inv = new double[C];
        var bn = net.Layer("bn");
        for (int c = 0; c < C; c++)
        {
            double mu, var;
            if (phase == Phase.Test)
            {
                double f = 1.0 / bn.Blobs[2].Data[0];
                mu = bn.Blobs[0].Data[c] * f;
                var = bn.Blobs[1].Data[c] * f;
            }
            else
            {
                double sum = 0, sq = 0;
                for (int n = 0; n < N; n++) for (int s = 0; s < Sp; s++) sum += x[At(n, c, s)];
                mu = sum / (N * Sp);
                for (int n = 0; n < N; n++) for (int s = 0; s < Sp; s++) sq += Math.Pow(x[At(n, c, s)] - mu, 2);
                var = sq / (N * Sp);
            }
            mean[c] = mu;
            inv[c] = 1 / Math.Sqrt(var + 1e-5);
        }
        return (mean, inv);
    }

    [TestCase(Phase.Train)]
    [TestCase(Phase.Test)]
    public void PairedForwardAndGradientsMatchTheFormulas(Phase phase)
    {
        using var net = Build(phase);
        var bn = (BatchNormLayer)net.Layer("bn");
        Assert.That(bn.FusedScale, Is.SameAs(net.Layer("scale")), "BatchNorm and the in-place Scale after it are paired");

        var x = net.Blob("data").Data.ToArray();
        var t = net.Blob("target").Data.ToArray();
        var sc = net.Layer("scale");
        float[] s = sc.Blobs[0].Data.ToArray(), b = sc.Blobs[1].Data.ToArray();
        var (mean, inv) = Statistics(net, x, phase);

        net.ClearParamDiffs();
        float loss = net.ForwardBackward();

        var y = net.Blob("bn").Data;
        var xhat = new double[x.Length];
        var dy = new double[x.Length];
        double expectedLoss = 0;
        for (int n = 0; n < N; n++)
            for (int c = 0; c < C; c++)
                for (int p = 0; p < Sp; p++)
                {
                    int i = At(n, c, p);
                    xhat[i] = (x[i] - mean[c]) * inv[c];
                    double yi = s[c] * xhat[i] + b[c];
                    Assert.That(y[i], Is.EqualTo(yi).Within(1e-5 * Math.Max(1, Math.Abs(yi))), $"y at {i}");
                    dy[i] = (yi - t[i]) / N;
                    expectedLoss += 0.5 * (yi - t[i]) * (yi - t[i]) / N;
                }
        Assert.That(loss, Is.EqualTo(expectedLoss).Within(1e-5 * expectedLoss));

        var dx = net.Blob("data").Diff;
        for (int c = 0; c < C; c++)
        {
            double sumDy = 0, sumDyX = 0;
            for (int n = 0; n < N; n++) for (int p = 0; p < Sp; p++) { sumDy += dy[At(n, c, p)]; sumDyX += dy[At(n, c, p)] * xhat[At(n, c, p)]; }
            Assert.That(sc.Blobs[1].Diff[c], Is.EqualTo(sumDy).Within(1e-5 * Math.Max(1, Math.Abs(sumDy))), $"bias gradient, channel {c}");
            Assert.That(sc.Blobs[0].Diff[c], Is.EqualTo(sumDyX).Within(1e-5 * Math.Max(1, Math.Abs(sumDyX))), $"scale gradient, channel {c}");
            double m = N * Sp;
            for (int n = 0; n < N; n++)
                for (int p = 0; p < Sp; p++)
                {
                    int i = At(n, c, p);
                    double expected = phase == Phase.Test
                        ? s[c] * inv[c] * dy[i]
                        : s[c] * inv[c] * (dy[i] - sumDy / m - xhat[i] * sumDyX / m);
                    Assert.That(dx[i], Is.EqualTo(expected).Within(1e-5 + 1e-4 * Math.Abs(expected)), $"dx at {i}");
                }
        }
    }

    [Test]
    public void FrozenPairInTrainingGivesTheStoredStatisticsGradientAndNoParameterGradients()
    {
        // Fine-tuning: BatchNorm on its stored statistics, the Scale's s and b not learned.
        using var net = Build(Phase.Train, bnExtra: "batch_norm_param { use_global_stats: true }",
            scaleExtra: "param { lr_mult: 0 } param { lr_mult: 0 }");
        Assert.That(((BatchNormLayer)net.Layer("bn")).FusedScale, Is.Not.Null);
        var x = net.Blob("data").Data.ToArray();
        var t = net.Blob("target").Data.ToArray();
        var sc = net.Layer("scale");
        var (mean, inv) = Statistics(net, x, Phase.Test);
        net.ClearParamDiffs();
        net.ForwardBackward();
        var dx = net.Blob("data").Diff;
        for (int n = 0; n < N; n++)
            for (int c = 0; c < C; c++)
                for (int p = 0; p < Sp; p++)
                {
                    int i = At(n, c, p);
                    float s = sc.Blobs[0].Data[c];
                    double y = s * (x[i] - mean[c]) * inv[c] + sc.Blobs[1].Data[c];
                    double expected = s * inv[c] * (y - t[i]) / N;
                    Assert.That(dx[i], Is.EqualTo(expected).Within(1e-5 + 1e-4 * Math.Abs(expected)), $"dx at {i}");
                }
        Assert.That(sc.Blobs[0].Diff.ToArray(), Is.All.EqualTo(0f));
        Assert.That(sc.Blobs[1].Diff.ToArray(), Is.All.EqualTo(0f));
    }

    [Test]
    public void PairedInputGradientMatchesCentralDifferences()
    {
        using var net = Build(Phase.Train);
        net.ForwardBackward();
        var analytic = net.Blob("data").Diff.ToArray();
        var data = net.Blob("data");
        foreach (int i in new[] { 0, 17, At(1, 1, 9), At(2, 2, 29), At(3, 0, 13) })
        {
            float keep = data.Data[i];
            const float h = 1e-2f;
            data.Data[i] = keep + h;
            double up = net.Forward();
            data.Data[i] = keep - h;
            double down = net.Forward();
            data.Data[i] = keep;
            double numeric = (up - down) / (2 * h);
            Assert.That(analytic[i], Is.EqualTo(numeric).Within(2e-3 + 1e-2 * Math.Abs(numeric)), $"d loss / d x[{i}]");
        }
    }

    [TestCase(Phase.Train)]
    [TestCase(Phase.Test)]
    public void DebugInfoRunsThePairUnfusedWithTheSameResults(Phase phase)
    {
        using var fused = Build(phase);
        using var unfused = Build(phase);
        unfused.DebugInfo = true;
        foreach (var net in new[] { fused, unfused })
        {
            net.ClearParamDiffs();
            net.ForwardBackward();
        }
        Assert.That(unfused.Blob("bn").Data.ToArray(), Is.EqualTo(fused.Blob("bn").Data.ToArray()).Within(1e-5));
        Assert.That(unfused.Blob("data").Diff.ToArray(), Is.EqualTo(fused.Blob("data").Diff.ToArray()).Within(1e-5));
        for (int p = 0; p < 2; p++)
            Assert.That(unfused.Layer("scale").Blobs[p].Diff.ToArray(), Is.EqualTo(fused.Layer("scale").Blobs[p].Diff.ToArray()).Within(1e-4));
        // The running statistics move the same way.
        for (int p = 0; p < 3; p++)
            Assert.That(unfused.Layer("bn").Blobs[p].Data.ToArray(), Is.EqualTo(fused.Layer("bn").Blobs[p].Data.ToArray()).Within(1e-6));
    }

    [Test]
    public void ForwardFromTheScaleAloneAppliesItAgainAsCaffeWould()
    {
        using var net = Build(Phase.Train);
        net.Forward();
        var once = net.Blob("bn").Data.ToArray();
        int scaleIndex = net.Layers.ToList().IndexOf(net.Layer("scale"));
        net.ForwardFromTo(scaleIndex, net.Layers.Count - 1);
        var twice = net.Blob("bn").Data;
        var sc = net.Layer("scale");
        for (int n = 0; n < N; n++)
            for (int c = 0; c < C; c++)
                for (int p = 0; p < Sp; p++)
                {
                    int i = At(n, c, p);
                    Assert.That(twice[i], Is.EqualTo(sc.Blobs[0].Data[c] * once[i] + sc.Blobs[1].Data[c]).Within(1e-5));
                }
    }

    [Test]
    public void OnlyAnAdjacentInPlaceScaleIsPaired()
    {
        using var withReLU = Build(Phase.Train, between: """layer { name: "relu" type: "ReLU" bottom: "bn" top: "bn" }""");
        Assert.That(((BatchNormLayer)withReLU.Layer("bn")).FusedScale, Is.Null);
        using var notInPlace = Build(Phase.Train, scaleTop: "scaled");
        Assert.That(((BatchNormLayer)notInPlace.Layer("bn")).FusedScale, Is.Null);
    }
}
