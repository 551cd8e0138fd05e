using System.Globalization;
using Engine.Core;
using Engine.IO;
using Engine.Proto;
using Engine.Solvers;
using Engine.Tests.Support;
using Engine.Text;
using NUnit.Framework;

namespace Engine.Tests.Solvers;

/// <summary>
/// Every solver type through the training loop: stop/resume byte identity, iter_size as
/// gradient accumulation, debug_info lines, and stopping on divergence with the last good state.
/// </summary>
[TestFixture]
public class SolverTrainingTests
{
    private string _dir = "";

    [SetUp]
    public void MakeDir()
    {
        Log.Quiet = true;
        _dir = Path.Combine(Path.GetTempPath(), "engine-solvers-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(_dir);
    }

    [TearDown]
    public void RemoveDir()
    {
        Log.Writer = Console.Out;
        Log.Quiet = true;
        Directory.Delete(_dir, recursive: true);
    }

    private string IdxNet(int batch, bool shuffle, bool dropout)
    {
        var (images, labels) = IdxFiles.WriteLearnable(Path.Combine(_dir, "data"), 50, 6, 6, 3);
        var drop = dropout ? """layer { name: "drop" type: "Dropout" bottom: "ip1" top: "ip1" dropout_param { dropout_ratio: 0.3 } }""" : "";
        return $$"""
            name: "tiny"
            layer { name: "data" type: "Data" top: "data" top: "label"
              data_param { source: "{{images}}" label_source: "{{labels}}" backend: IDX batch_size: {{batch}} shuffle: {{(shuffle ? "true" : "false")}} }
              transform_param { scale: 0.00392156862 } }
            layer { name: "ip1" type: "InnerProduct" bottom: "data" top: "ip1"
              inner_product_param { num_output: 10 weight_filler { type: "xavier" } } }
            {{drop}}
            layer { name: "relu" type: "ReLU" bottom: "ip1" top: "ip1" }
            layer { name: "ip2" type: "InnerProduct" bottom: "ip1" top: "ip2"
              param { lr_mult: 1 } param { lr_mult: 2 decay_mult: 0 }
              inner_product_param { num_output: 3 weight_filler { type: "xavier" } } }
            layer { name: "loss" type: "SoftmaxWithLoss" bottom: "ip2" bottom: "label" top: "loss" }
            """;
    }

    private SolverParameter Solver(string type, string net, string prefix, int maxIter)
    {
        var p = UpdateRuleTests.Hyper(type);
        p.NetParam = ProtoText.Parse<NetParameter>(net);
        p.BaseLr *= 0.5f;
        p.WeightDecay = 5e-4f;
        p.LrPolicy = "step";
        p.Gamma = 0.5f;
        p.Stepsize = 7;
        p.MaxIter = maxIter;
        p.Snapshot = 10;
        p.SnapshotPrefix = Path.Combine(_dir, prefix);
        p.RandomSeed = 5;
        p.AverageLoss = 3;
        p.SolverMode = SolverParameter.Types.SolverMode.Cpu;
        return p;
    }

    [TestCaseSource(typeof(UpdateRuleTests), nameof(UpdateRuleTests.Types))]
    public void StopAndResumeGivesByteIdenticalWeights(string type)
    {
        var net = IdxNet(8, shuffle: true, dropout: true);
        var a = SolverFactory.Create(Solver(type, net, "a", 20), quiet: true);
        a.Solve();
        SolverFactory.Create(Solver(type, net, "b", 10), quiet: true).Solve();
        var b = SolverFactory.Create(Solver(type, net, "b", 20), quiet: true);
        b.Solve(Path.Combine(_dir, "b_iter_10.solverstate"));
        Assert.That(b.TypeName, Is.EqualTo(type));
        var wa = File.ReadAllBytes(Path.Combine(_dir, "a_iter_20.caffemodel"));
        var wb = File.ReadAllBytes(Path.Combine(_dir, "b_iter_20.caffemodel"));
        Assert.That(wb, Is.EqualTo(wa), $"{type}: weights after 20 iterations, straight vs 10 + resume + 10");
        var sa = SolverState.Parser.ParseFrom(File.ReadAllBytes(Path.Combine(_dir, "a_iter_20.solverstate")));
        var sb = SolverState.Parser.ParseFrom(File.ReadAllBytes(Path.Combine(_dir, "b_iter_20.solverstate")));
        Assert.That(sb.History, Is.EqualTo(sa.History), $"{type}: history after 20 iterations");
        int perParam = type is "AdaDelta" or "Adam" ? 2 : 1;
        Assert.That(sa.History, Has.Count.EqualTo(4 * perParam));
        // Training moved the weights somewhere finite.
        var ip2 = NetParameter.Parser.ParseFrom(wa).Layer.Single(l => l.Name == "ip2");
        Assert.That(ip2.Blobs[0].Data.All(float.IsFinite));
    }

    [TestCase("SGD")]
    [TestCase("Adam")]
    [TestCase("AdaDelta")]
    public void IterSizeTwoOfBatchTwoEqualsOneBatchOfFour(string type)
    {
        float[][] Train(int batch, int iterSize, string prefix)
        {
            var p = Solver(type, IdxNet(batch, shuffle: false, dropout: false), prefix, 3);
            p.IterSize = iterSize;
            p.Snapshot = 0;
            p.SnapshotAfterTrain = false;
            var s = SolverFactory.Create(p, quiet: true);
            s.Solve();
            return s.TrainNet.LearnableParams.Select(x => x.Blob.Data.ToArray()).ToArray();
        }
        var four = Train(4, 1, "four");
        var twoTwice = Train(2, 2, "two");
        Assert.That(twoTwice, Has.Length.EqualTo(four.Length));
        for (int i = 0; i < four.Length; i++)
            Assert.That(twoTwice[i], Is.EqualTo(four[i]).Within(1e-5), $"{type}: learnable param {i}");
        // And it did learn something: the weights moved from their start.
        var start = SolverFactory.Create(Solver(type, IdxNet(4, false, false), "s", 3), quiet: true).TrainNet.LearnableParams[0].Blob.Data.ToArray();
        Assert.That(four[0], Is.Not.EqualTo(start));
    }

    private static string Capture(Action run)
    {
        var log = new StringWriter();
        Log.Writer = log;
        Log.Quiet = false;
        try { run(); }
        finally { Log.Quiet = true; Log.Writer = Console.Out; }
        return log.ToString();
    }

    private static string Num(double v) => v.ToString("G6", CultureInfo.InvariantCulture);

    private static double MeanAbs(ReadOnlySpan<float> x)
    {
        double s = 0;
        foreach (var v in x) s += Math.Abs(v);
        return s / x.Length;
    }

    [Test]
    public void DebugInfoPrintsCaffesLinesOnDisplayIterations()
    {
        var p = Solver("SGD", IdxNet(4, false, false), "dbg", 1);
        p.DebugInfo = true;
        p.Display = 1;
        p.SnapshotAfterTrain = false;
        var s = SolverFactory.Create(p, quiet: true);
        var log = Capture(() => s.Step(1));
        var lines = log.Split('\n').Select(l => l.Contains("] ") ? l[(l.IndexOf("] ", StringComparison.Ordinal) + 2)..].TrimEnd('\r') : l).ToList();

        // Forward: each top's mean |data|, then each param's; the values are those left in the blobs.
        var ip2Mean = Num(MeanAbs(s.TrainNet.Blob("ip2").Data));
        Assert.That(lines, Does.Contain($"    [Forward] Layer ip2, top blob ip2 data: {ip2Mean}"));
        Assert.That(lines, Has.Some.Match(@"^    \[Forward\] Layer data, top blob label data: \S+$"));
        Assert.That(lines, Has.Some.Match(@"^    \[Forward\] Layer ip1, param blob 0 data: \S+$"));
        Assert.That(lines, Has.Some.Match(@"^    \[Forward\] Layer ip2, param blob 1 data: \S+$"));
        Assert.That(lines, Has.Some.Match(@"^    \[Forward\] Layer loss, top blob loss data: \S+$"));
        // Backward: propagated bottoms and learned params; data needs no gradient, so no line for it.
        Assert.That(lines, Has.Some.Match(@"^    \[Backward\] Layer loss, bottom blob ip2 diff: \S+$"));
        Assert.That(lines, Has.Some.Match(@"^    \[Backward\] Layer ip2, bottom blob ip1 diff: \S+$"));
        Assert.That(lines, Has.Some.Match(@"^    \[Backward\] Layer ip1, param blob 0 diff: \S+$"));
        Assert.That(lines, Has.None.Match(@"Layer ip1, bottom blob data diff"));
        Assert.That(lines, Has.None.Match(@"Layer loss, bottom blob label diff"));
        Assert.That(lines, Has.Some.Match(@"^    \[Backward\] All net params \(data, diff\): L1 norm = \(\S+, \S+\); L2 norm = \(\S+, \S+\)$"));
        // Update: data and the step, per param.
        Assert.That(lines, Has.Some.Match(@"^    \[Update\] Layer ip1, param 0 data: \S+; diff: \S+$"));
        Assert.That(lines, Has.Some.Match(@"^    \[Update\] Layer ip2, param 1 data: \S+; diff: \S+$"));
        // Forward lines come in layer order, before the backward ones.
        int f = lines.FindIndex(l => l.StartsWith("    [Forward] Layer loss", StringComparison.Ordinal));
        int b = lines.FindIndex(l => l.StartsWith("    [Backward]", StringComparison.Ordinal));
        int u = lines.FindIndex(l => l.StartsWith("    [Update]", StringComparison.Ordinal));
        Assert.That(f, Is.LessThan(b));
        Assert.That(b, Is.LessThan(u));
    }

    [Test]
    public void DebugInfoFollowsDisplayAndTheNetsOwnFlag()
    {
        // Solver debug_info, but iteration 1 is not a display iteration (display 2): silent.
        var p = Solver("SGD", IdxNet(4, false, false), "dbg2", 3);
        p.DebugInfo = true;
        p.Display = 2;
        var s = SolverFactory.Create(p, quiet: true);
        Assert.That(Capture(() => s.Step(1)), Does.Contain("[Forward]"), "iteration 0 displays");
        Assert.That(Capture(() => s.Step(1)), Does.Not.Contain("[Forward]"), "iteration 1 does not");

        // NetParameter.debug_info alone turns it on too.
        var q = Solver("SGD", IdxNet(4, false, false), "dbg3", 3);
        q.NetParam.DebugInfo = true;
        q.Display = 1;
        var t = SolverFactory.Create(q, quiet: true);
        Assert.That(Capture(() => t.Step(1)), Does.Contain("    [Backward] Layer ip2, param blob 0 diff: "));

        // Neither: nothing.
        var r = Solver("SGD", IdxNet(4, false, false), "dbg4", 3);
        r.Display = 1;
        var u = SolverFactory.Create(r, quiet: true);
        Assert.That(Capture(() => u.Step(1)), Does.Not.Contain("[Forward]"));
    }

    [Test]
    public void NonFiniteLossStopsWithTheLastGoodStateSnapshotted()
    {
        var p = Solver("SGD", IdxNet(4, false, false), "nan", 10);
        p.Snapshot = 0;
        var s = SolverFactory.Create(p, quiet: true);
        s.Step(2);
        // Weights so large that ip2's output overflows: the loss is NaN, the weights still finite.
        var ip2 = s.TrainNet.Layer("ip2").Blobs[0];
        ip2.Data.Fill(3e38f);
        var good = s.TrainNet.LearnableParams.Select(x => x.Blob.Data.ToArray()).ToList();
        var e = Assert.Throws<EngineException>(() => s.Step(1))!;
        Assert.That(e.Message, Does.Contain("diverged").And.Contain("layer \"ip2\"").And.Contain("base_lr"));
        var model = Path.Combine(_dir, "nan_iter_2.caffemodel");
        var state = Path.Combine(_dir, "nan_iter_2.solverstate");
        Assert.That(e.Message, Does.Contain(model).And.Contain(state));
        Assert.That(File.Exists(model) && File.Exists(state));
        Assert.That(s.Iter, Is.EqualTo(2), "the bad update was not applied");
        var saved = NetParameter.Parser.ParseFrom(File.ReadAllBytes(model));
        var blobs = saved.Layer.Where(l => l.Blobs.Count > 0).SelectMany(l => l.Blobs).Select(b => b.Data.ToArray()).ToList();
        Assert.That(blobs, Is.EqualTo(good), "the snapshot holds the weights of the last good iteration");
        // The state resumes.
        var again = SolverFactory.Create(p, quiet: true);
        again.Restore(state);
        Assert.That(again.Iter, Is.EqualTo(2));
    }

    // The adaptive rules step about lr·sign(g), so a huge rate grows the weights only linearly
    // and may stay finite; the momentum rules compound and overflow within a few iterations.
    [TestCase("SGD")]
    [TestCase("Nesterov")]
    public void AHugeLearningRateDivergesAndKeepsFiniteWeights(string type)
    {
        var p = Solver(type, IdxNet(8, false, false), "big", 200);
        p.BaseLr = 1e6f;
        p.LrPolicy = "fixed";
        p.Snapshot = 0;
        var s = SolverFactory.Create(p, quiet: true);
        var e = Assert.Throws<EngineException>(() => s.Solve())!;
        TestContext.Out.WriteLine(e.Message);
        Assert.That(e.Message, Does.Contain("diverged").And.Match("layer \"(ip1|ip2|loss|relu)\"").And.Contain("base_lr"));
        var model = Path.Combine(_dir, $"big_iter_{s.Iter}.caffemodel");
        Assert.That(e.Message, Does.Contain(model));
        Assert.That(File.Exists(model), model);
        var saved = NetParameter.Parser.ParseFrom(File.ReadAllBytes(model));
        Assert.That(saved.Layer.SelectMany(l => l.Blobs).SelectMany(b => b.Data).All(float.IsFinite), "finite weights in the snapshot");
    }

    [Test]
    public void AnOverflowingStepWritesTheLastGoodWeightsOnly()
    {
        var s = UpdateRuleTests.Make("SGD", 0, p => { p.Momentum = 0; p.BaseLr = 1; p.SnapshotPrefix = Path.Combine(_dir, "ovf"); });
        var ip = s.TrainNet.Layer("ip");
        ip.Blobs[0].Data.Fill(3e38f);
        ip.Blobs[0].Diff.Fill(-3e38f); // finite gradient, but w − step overflows
        ip.Blobs[1].Diff.Clear();
        var e = Assert.Throws<EngineException>(s.UpdateFromCurrentDiffs)!;
        Assert.That(e.Message, Does.Contain("diverged").And.Contain("layer \"ip\"").And.Contain("base_lr").And.Contain("--weights"));
        var model = Path.Combine(_dir, "ovf_iter_0.caffemodel");
        Assert.That(File.Exists(model));
        Assert.That(File.Exists(Path.Combine(_dir, "ovf_iter_0.solverstate")), Is.False);
        var saved = NetParameter.Parser.ParseFrom(File.ReadAllBytes(model)).Layer.Single(l => l.Name == "ip");
        Assert.That(saved.Blobs[0].Data, Is.All.EqualTo(3e38f));
        Assert.That(ip.Blobs[0].Data.ToArray(), Is.All.EqualTo(3e38f), "the update was not applied");
    }
}
