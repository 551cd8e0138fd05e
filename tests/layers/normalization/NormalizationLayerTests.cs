using Engine.Core;
using Engine.Graph;
using Engine.Layers;
using Engine.Proto;
using Engine.Tests.Support;
using Engine.Text;
using NUnit.Framework;
using static Engine.Tests.Support.VisionTestHelpers;

namespace Engine.Tests.Layers.Normalization;

/// <summary>BatchNorm, Scale, Bias and MVN.</summary>
[TestFixture]
public class NormalizationLayerTests
{
    private static Blob Fix(string name) => TestData.Fixture($"catalog3/{name}.npy", name);

    // ---- BatchNorm -------------------------------------------------------------------------

    private static LayerParameter BatchNorm(Phase phase, float eps = 1e-5f, bool? global = null)
    {
        var p = new BatchNormParameter { Eps = eps };
        if (global is bool g) p.UseGlobalStats = g;
        return new LayerParameter { Name = "bn", Type = "BatchNorm", Phase = phase, BatchNormParam = p };
    }

    private static void CheckBatchNormFixture(string c, Phase phase, float eps)
    {
        var x = Fix($"{c}_x");
        var (layer, tops) = SetUp(BatchNorm(phase, eps), [x]);
        Assert.That(layer, Is.InstanceOf<BatchNormLayer>());
        Fix($"{c}_mean").Data.CopyTo(layer.Blobs[0].Data);
        Fix($"{c}_var").Data.CopyTo(layer.Blobs[1].Data);
        Fix($"{c}_s").Data.CopyTo(layer.Blobs[2].Data);
        layer.Forward([x], tops);
        AssertClose(tops[0], tops[0].Data, Fix($"{c}_y"), $"{c} y");
        Fix($"{c}_dy").Data.CopyTo(tops[0].Diff);
        Backward(layer, [x], tops);
        AssertClose(x, x.Diff, Fix($"{c}_dx"), $"{c} dx");
    }

    [Test]
    public void BatchNormTrainingMatchesPyTorch()
    {
        CheckBatchNormFixture("bn_train", Phase.Train, 1e-5f);
        CheckBatchNormFixture("bn_train2d", Phase.Train, 1e-5f);
    }

    [Test]
    public void BatchNormGlobalStatsMatchPyTorchEval() => CheckBatchNormFixture("bn_eval", Phase.Test, 1e-3f);

    [Test]
    public void BatchNormStoredStatisticsFollowCaffe()
    {
        var x = TestData.Random("x", [3, 2, 2, 2], seed: 3);
        var param = BatchNorm(Phase.Train);
        param.BatchNormParam.MovingAverageFraction = 0.9f;
        var (layer, tops) = SetUp(param, [x]);
        float[] mean0 = [0.5f, -1], var0 = [2, 3];
        mean0.CopyTo(layer.Blobs[0].Data);
        var0.CopyTo(layer.Blobs[1].Data);
        layer.Blobs[2].Data[0] = 4;
        layer.Forward([x], tops);

        Assert.That(layer.Blobs[2].Data[0], Is.EqualTo(0.9f * 4 + 1).Within(1e-6));
        for (int c = 0; c < 2; c++)
        {
            var values = new List<double>();
            for (int n = 0; n < 3; n++)
                for (int i = 0; i < 4; i++) values.Add(x.Data[(n * 2 + c) * 4 + i]);
            double mu = values.Average(), sigma2 = values.Sum(v => (v - mu) * (v - mu)) / values.Count;
            int m = values.Count;
            Assert.That(layer.Blobs[0].Data[c], Is.EqualTo(0.9 * mean0[c] + mu).Within(1e-5), $"mean sum {c}");
            Assert.That(layer.Blobs[1].Data[c], Is.EqualTo(0.9 * var0[c] + (double)m / (m - 1) * sigma2).Within(1e-5), $"variance sum {c}");
            for (int n = 0; n < 3; n++)
                for (int i = 0; i < 4; i++)
                {
                    int q = (n * 2 + c) * 4 + i;
                    Assert.That(tops[0].Data[q], Is.EqualTo((x.Data[q] - mu) / Math.Sqrt(sigma2 + 1e-5)).Within(1e-4));
                }
        }
    }

    [Test]
    public void BatchNormDefaultsToGlobalStatsInTest()
    {
        var x = TestData.Random("x", [2, 2, 1, 1]);
        var (layer, tops) = SetUp(BatchNorm(Phase.Test), [x]);
        new float[] { 1, 2 }.CopyTo(layer.Blobs[0].Data);
        new float[] { 8, 18 }.CopyTo(layer.Blobs[1].Data);
        layer.Blobs[2].Data[0] = 2;
        layer.Forward([x], tops);
        // mean = sum / s = (0.5, 1), var = (4, 9); the blobs do not change.
        Assert.That(tops[0].Data[0], Is.EqualTo((x.Data[0] - 0.5) / Math.Sqrt(4 + 1e-5)).Within(1e-5));
        Assert.That(tops[0].Data[3], Is.EqualTo((x.Data[3] - 1) / Math.Sqrt(9 + 1e-5)).Within(1e-5));
        Assert.That(layer.Blobs[2].Data[0], Is.EqualTo(2f));
    }

    [Test]
    public void BatchNormGradientInTraining()
    {
        var x = TestData.Random("x", [3, 2, 2, 3], seed: 4);
        var (layer, tops) = SetUp(BatchNorm(Phase.Train), [x]);
        new GradientChecker(step: 1e-3f, threshold: 2e-2f).Check(layer, [x], tops, checkParams: false);
        var (global, t2) = SetUp(BatchNorm(Phase.Train, global: true), [x]);
        new float[] { 0.2f, -0.1f }.CopyTo(global.Blobs[0].Data);
        new float[] { 1, 2 }.CopyTo(global.Blobs[1].Data);
        global.Blobs[2].Data[0] = 1;
        new GradientChecker().Check(global, [x], t2, checkParams: false);
    }

    [Test]
    public void BatchNormInPlaceKeepsItsGradientWhenTheTopIsOverwritten()
    {
        var x = TestData.Random("x", [3, 2, 2, 2], seed: 7);
        var copy = TestData.Random("x", [3, 2, 2, 2], seed: 7);
        var inPlace = LayerRegistry.Create(BatchNorm(Phase.Train));
        inPlace.SetUp([x], [x]);
        var (apart, tops) = SetUp(BatchNorm(Phase.Train), [copy]);
        inPlace.Forward([x], [x]);
        apart.Forward([copy], tops);
        Assert.That(x.Data.ToArray(), Is.EqualTo(tops[0].Data.ToArray()));
        x.Data.Fill(7); // a later in-place layer overwrites the data
        var dy = TestData.Random("dy", [3, 2, 2, 2], seed: 8);
        dy.Data.CopyTo(x.Diff);
        dy.Data.CopyTo(tops[0].Diff);
        inPlace.Backward([x], [true], [x]);
        apart.Backward(tops, [true], [copy]);
        AssertClose(x.Diff, copy.Diff, "in-place dx", 1e-5);
    }

    [Test]
    public void NetNeverLearnsBatchNormStatistics()
    {
        var net = new Net(ProtoText.Parse<NetParameter>("""
            layer { name: "data" type: "DummyData" top: "data" top: "label"
              dummy_data_param { shape { dim: 4 dim: 3 dim: 2 dim: 2 } shape { dim: 4 }
                                 data_filler { type: "uniform" min: -1 max: 1 } data_filler { type: "constant" value: 1 } } }
            layer { name: "bn" type: "BatchNorm" bottom: "data" top: "bn"
                    param { lr_mult: 1 decay_mult: 1 } }
            layer { name: "scale" type: "Scale" bottom: "bn" top: "bn" scale_param { bias_term: true } }
            layer { name: "ip" type: "InnerProduct" bottom: "bn" top: "ip" inner_product_param { num_output: 2 } }
            layer { name: "loss" type: "SoftmaxWithLoss" bottom: "ip" bottom: "label" top: "loss" }
            """), new NetState { Phase = Phase.Train }, quiet: true);
        var bn = net.LearnableParams.Where(p => p.Layer.Type == "BatchNorm").ToList();
        Assert.That(bn, Has.Count.EqualTo(3));
        Assert.That(bn.Select(p => p.LrMult), Is.All.EqualTo(0f));
        Assert.That(bn.Select(p => p.DecayMult), Is.All.EqualTo(0f));
        Assert.That(bn[0].Layer.ParamPropagateDown, Is.All.False);
        var scale = net.LearnableParams.Where(p => p.Layer.Type == "Scale").ToList();
        Assert.That(scale.Select(p => p.LrMult), Is.All.EqualTo(1f));
        Assert.That(scale[0].Blob.Data.ToArray(), Is.All.EqualTo(1f));
        net.Forward();
        Assert.That(bn[2].Blob.Data[0], Is.EqualTo(1f));
    }

    // ---- Scale and Bias --------------------------------------------------------------------

    private static LayerParameter Scale(int axis, int numAxes, bool bias) => new()
    {
        Name = "scale",
        Type = "Scale",
        ScaleParam = new ScaleParameter { Axis = axis, NumAxes = numAxes, BiasTerm = bias, Filler = Uniform(), BiasFiller = Uniform() },
    };

    private static void CheckScaleFixture(string c, int axis, int numAxes, bool bias)
    {
        var x = Fix($"{c}_x");
        var (layer, tops) = SetUp(Scale(axis, numAxes, bias), [x]);
        Assert.That(layer.Blobs[0].Shape, Is.EqualTo(Fix($"{c}_scale").Shape));
        Fix($"{c}_scale").Data.CopyTo(layer.Blobs[0].Data);
        if (bias) Fix($"{c}_b").Data.CopyTo(layer.Blobs[1].Data);
        layer.Forward([x], tops);
        AssertClose(tops[0], tops[0].Data, Fix($"{c}_y"), $"{c} y");
        Fix($"{c}_dy").Data.CopyTo(tops[0].Diff);
        Backward(layer, [x], tops);
        AssertClose(x, x.Diff, Fix($"{c}_dx"), $"{c} dx");
        AssertClose(layer.Blobs[0], layer.Blobs[0].Diff, Fix($"{c}_dscale"), $"{c} dscale");
        if (bias) AssertClose(layer.Blobs[1], layer.Blobs[1].Diff, Fix($"{c}_db"), $"{c} db");
    }

    [Test]
    public void ScaleMatchesReference()
    {
        CheckScaleFixture("scale_axis1", 1, 1, true);
        CheckScaleFixture("scale_axis1_2d", 1, 2, false);
        CheckScaleFixture("scale_axis0_all", 0, -1, false);
    }

    [Test]
    public void ScaleByASecondBottom()
    {
        var x = Fix("scale_axis1_x");
        var s = Fix("scale_axis1_scale");
        var param = Scale(1, 1, false);
        var (layer, tops) = SetUp(param, [x, s], tops: 1);
        Assert.That(layer.Blobs, Is.Empty);
        layer.Forward([x, s], tops);
        Fix("scale_axis1_dy").Data.CopyTo(tops[0].Diff);
        Backward(layer, [x, s], tops);
        AssertClose(x, x.Diff, Fix("scale_axis1_dx"), "dx");
        AssertClose(s, s.Diff, Fix("scale_axis1_dscale"), "dscale");
        var (withBias, t2) = SetUp(Scale(1, 1, true), [x, s], tops: 1);
        Assert.That(withBias.Blobs, Has.Count.EqualTo(1));
        new GradientChecker().Check(withBias, [x, s], t2);
    }

    [Test]
    public void ScaleDefaultsAndGradient()
    {
        var x = TestData.Random("x", [2, 3, 2, 2]);
        var (plain, _) = SetUp(new LayerParameter { Name = "s", Type = "Scale", ScaleParam = new ScaleParameter { BiasTerm = true } }, [x]);
        Assert.That(plain.Blobs[0].Data.ToArray(), Is.All.EqualTo(1f));
        Assert.That(plain.Blobs[1].Data.ToArray(), Is.All.EqualTo(0f));
        var (layer, tops) = SetUp(Scale(1, 2, true), [x]);
        new GradientChecker().Check(layer, [x], tops);
        var (scalar, t2) = SetUp(Scale(1, 0, false), [x]);
        Assert.That(scalar.Blobs[0].Count, Is.EqualTo(1));
        new GradientChecker().Check(scalar, [x], t2);
    }

    /// <summary>Large blobs split the channels across threads: the formula, from the definition,
    /// in place, with the same bits on one thread as on two.</summary>
    [Test]
    [NonParallelizable] // sets WorkerPool.Threads
    public void LargeScaleInPlaceMatchesTheFormulaOnAnyThreadCount()
    {
        int[] shape = [3, 24, 31, 33]; // 73,656 values: above the parallel threshold
        float[][]? first = null;
        int saved = Engine.Cpu.WorkerPool.Threads;
        try
        {
            foreach (int threads in new[] { 1, 2 })
            {
                Engine.Cpu.WorkerPool.Threads = threads;
                var x = TestData.Random("x", shape, seed: 21);
                var x0 = x.Data.ToArray();
                var layer = LayerRegistry.Create(Scale(1, 1, true));
                layer.FillerRng = new Rng(1701);
                layer.SetUp([x], [x]);
                layer.Forward([x], [x]);
                var dy = TestData.Random("dy", shape, seed: 22).Data.ToArray();
                dy.CopyTo(x.Diff);
                layer.Backward([x], [true], [x]);
                float[] s = layer.Blobs[0].Data.ToArray(), b = layer.Blobs[1].Data.ToArray();
                int inner = 31 * 33;
                var ds = new double[24];
                var db = new double[24];
                for (int i = 0; i < x0.Length; i++)
                {
                    int c = i / inner % 24;
                    Assert.That(x.Data[i], Is.EqualTo(x0[i] * s[c] + b[c]).Within(1e-5), $"y[{i}]");
                    Assert.That(x.Diff[i], Is.EqualTo(dy[i] * s[c]).Within(1e-6), $"dx[{i}]");
                    ds[c] += (double)dy[i] * x0[i];
                    db[c] += dy[i];
                }
                for (int c = 0; c < 24; c++)
                {
                    Assert.That(layer.Blobs[0].Diff[c], Is.EqualTo(ds[c]).Within(1e-3), $"ds[{c}]");
                    Assert.That(layer.Blobs[1].Diff[c], Is.EqualTo(db[c]).Within(1e-3), $"db[{c}]");
                }
                float[][] results = [x.Data.ToArray(), x.Diff.ToArray(), layer.Blobs[0].Diff.ToArray(), layer.Blobs[1].Diff.ToArray()];
                if (first == null) first = results;
                else for (int r = 0; r < results.Length; r++) Assert.That(results[r], Is.EqualTo(first[r]), $"result {r}: 2 threads vs 1");
            }
        }
        finally
        {
            Engine.Cpu.WorkerPool.Threads = saved;
        }
    }

    [Test]
    public void ScaleInPlaceKeepsItsInputForTheGradient()
    {
        var x = TestData.Random("x", [2, 3, 2, 2]);
        var copy = TestData.Random("x", [2, 3, 2, 2]);
        var inPlace = LayerRegistry.Create(Scale(1, 1, true));
        inPlace.FillerRng = new Rng(1701);
        inPlace.SetUp([x], [x]);
        var (apart, tops) = SetUp(Scale(1, 1, true), [copy]);
        inPlace.Forward([x], [x]);
        apart.Forward([copy], tops);
        Assert.That(x.Data.ToArray(), Is.EqualTo(tops[0].Data.ToArray()));
        x.Data.Fill(3);
        var dy = TestData.Random("dy", [2, 3, 2, 2], seed: 8);
        dy.Data.CopyTo(x.Diff);
        dy.Data.CopyTo(tops[0].Diff);
        inPlace.ParamPropagateDown = [true, true];
        foreach (var b in inPlace.Blobs.Concat(apart.Blobs)) b.Diff.Clear();
        inPlace.Backward([x], [true], [x]);
        apart.Backward(tops, [true], [copy]);
        AssertClose(x.Diff, copy.Diff, "in-place dx", 1e-6);
        AssertClose(inPlace.Blobs[0].Diff, apart.Blobs[0].Diff, "in-place dscale", 1e-6);
        AssertClose(inPlace.Blobs[1].Diff, apart.Blobs[1].Diff, "in-place dbias", 1e-6);
    }

    private static LayerParameter Bias(int axis, int numAxes) => new()
    {
        Name = "bias",
        Type = "Bias",
        BiasParam = new BiasParameter { Axis = axis, NumAxes = numAxes, Filler = Uniform() },
    };

    [Test]
    public void BiasMatchesReference()
    {
        foreach (var (c, axis, numAxes) in new[] { ("bias_axis1", 1, 1), ("bias_axis2", 2, -1) })
        {
            var x = Fix($"{c}_x");
            var (layer, tops) = SetUp(Bias(axis, numAxes), [x]);
            Fix($"{c}_b").Data.CopyTo(layer.Blobs[0].Data);
            layer.Forward([x], tops);
            AssertClose(tops[0], tops[0].Data, Fix($"{c}_y"), $"{c} y");
            Fix($"{c}_dy").Data.CopyTo(tops[0].Diff);
            Backward(layer, [x], tops);
            AssertClose(x, x.Diff, Fix($"{c}_dx"), $"{c} dx");
            AssertClose(layer.Blobs[0], layer.Blobs[0].Diff, Fix($"{c}_db"), $"{c} db");
        }
    }

    [Test]
    public void BiasDefaultsSecondBottomAndGradient()
    {
        var x = TestData.Random("x", [2, 3, 2, 2]);
        var (plain, _) = SetUp(new LayerParameter { Name = "b", Type = "Bias" }, [x]);
        Assert.That(plain.Blobs[0].Shape, Is.EqualTo(new[] { 3 }));
        Assert.That(plain.Blobs[0].Data.ToArray(), Is.All.EqualTo(0f));
        var (layer, tops) = SetUp(Bias(1, 2), [x]);
        new GradientChecker().Check(layer, [x], tops);
        var b = TestData.Random("b", [3, 2], seed: 9);
        var (two, t2) = SetUp(Bias(1, 1), [x, b], tops: 1);
        Assert.That(two.Blobs, Is.Empty);
        new GradientChecker().Check(two, [x, b], t2);
    }

    [Test]
    public void ScaleShapeMismatchIsAnError()
    {
        var x = TestData.Random("x", [2, 3, 2, 2]);
        var s = TestData.Random("s", [4]);
        Assert.That(Assert.Throws<EngineException>(() => SetUp(Scale(1, 1, false), [x, s], tops: 1))!.Message, Does.Contain("does not match"));
        Assert.That(Assert.Throws<EngineException>(() => SetUp(Bias(3, 2), [x]))!.Message, Does.Contain("past the last axis"));
    }

    // ---- MVN -------------------------------------------------------------------------------

    private static LayerParameter Mvn(bool variance, bool across) => new()
    {
        Name = "mvn",
        Type = "MVN",
        MvnParam = new MVNParameter { NormalizeVariance = variance, AcrossChannels = across },
    };

    [Test]
    public void MvnMatchesReference()
    {
        foreach (var (c, variance, across) in new[] { ("mvn_var", true, false), ("mvn_across", true, true), ("mvn_mean", false, false) })
        {
            var x = Fix($"{c}_x");
            var (layer, tops) = SetUp(Mvn(variance, across), [x]);
            layer.Forward([x], tops);
            AssertClose(tops[0], tops[0].Data, Fix($"{c}_y"), $"{c} y");
            Fix($"{c}_dy").Data.CopyTo(tops[0].Diff);
            Backward(layer, [x], tops);
            AssertClose(x, x.Diff, Fix($"{c}_dx"), $"{c} dx");
        }
    }

    [Test]
    public void MvnGradients()
    {
        var x = TestData.Random("x", [2, 3, 2, 3], seed: 6);
        foreach (var (variance, across) in new[] { (true, false), (true, true), (false, false), (false, true) })
        {
            var (layer, tops) = SetUp(Mvn(variance, across), [x]);
            new GradientChecker(step: 1e-3f, threshold: 2e-2f).Check(layer, [x], tops);
        }
    }
}
