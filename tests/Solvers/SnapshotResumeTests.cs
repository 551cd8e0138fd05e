using System.Text.RegularExpressions;
using Engine.Core;
using Engine.IO;
using Engine.Proto;
using Engine.Solvers;
using Engine.Tests.Support;
using Engine.Text;
using NUnit.Framework;

namespace Engine.Tests.Solvers;

/// <summary>
/// A run stopped at a snapshot and resumed ends with byte-identical weights and prints the same
/// losses as a run that never stopped: weights, momentum, data position, shuffle order, dropout's
/// generator and the loss-smoothing window all travel in the snapshot.
/// </summary>
[TestFixture]
public class SnapshotResumeTests
{
    private string _dir = "";

    [SetUp]
    public void MakeDir()
    {
        _dir = Path.Combine(Path.GetTempPath(), "engine-snap-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(_dir);
    }

    [TearDown]
    public void RemoveDir()
    {
        Log.Writer = Console.Out;
        Log.Quiet = true;
        Directory.Delete(_dir, recursive: true);
    }

    private string NetText(uint prefetch = 4)
    {
        var (images, labels) = IdxFiles.WriteLearnable(Path.Combine(_dir, "data"), 50, 6, 6, 3);
        return $$"""
            name: "tiny"
            layer { name: "data" type: "Data" top: "data" top: "label" include { phase: TRAIN }
              data_param { source: "{{images}}" label_source: "{{labels}}" backend: IDX batch_size: 8 shuffle: true prefetch: {{prefetch}} }
              transform_param { scale: 0.00392156862 } }
            layer { name: "data" type: "Data" top: "data" top: "label" include { phase: TEST }
              data_param { source: "{{images}}" label_source: "{{labels}}" backend: IDX batch_size: 10 }
              transform_param { scale: 0.00392156862 } }
            layer { name: "ip1" type: "InnerProduct" bottom: "data" top: "ip1"
              inner_product_param { num_output: 10 weight_filler { type: "xavier" } } }
            layer { name: "drop" type: "Dropout" bottom: "ip1" top: "ip1" dropout_param { dropout_ratio: 0.3 } }
            layer { name: "relu" type: "ReLU" bottom: "ip1" top: "ip1" }
            layer { name: "ip2" type: "InnerProduct" bottom: "ip1" top: "ip2"
              param { lr_mult: 1 } param { lr_mult: 2 }
              inner_product_param { num_output: 3 weight_filler { type: "xavier" } } }
            layer { name: "acc" type: "Accuracy" bottom: "ip2" bottom: "label" top: "accuracy" include { phase: TEST } }
            layer { name: "loss" type: "SoftmaxWithLoss" bottom: "ip2" bottom: "label" top: "loss" }
            """;
    }

    private SolverParameter Solver(string net, string prefix, int maxIter) => new()
    {
        NetParam = ProtoText.Parse<NetParameter>(net),
        BaseLr = 0.05f,
        Momentum = 0.9f,
        WeightDecay = 5e-4f,
        LrPolicy = "multistep",
        Gamma = 0.5f,
        Stepvalue = { 7, 13 },
        MaxIter = maxIter,
        Snapshot = 10,
        SnapshotPrefix = Path.Combine(_dir, prefix),
        RandomSeed = 5,
        AverageLoss = 4,
        Display = 1,
        TestIter = { 5 },
        TestInterval = 5,
        SolverMode = SolverParameter.Types.SolverMode.Cpu,
    };

    /// <summary>Run a solver, returning "Iteration N ... loss = X" and test outputs per iteration.</summary>
    private static List<string> Run(SolverParameter p, string? resume = null, Engine.Backends.IBackend? backend = null)
    {
        var log = new StringWriter();
        Log.Writer = log;
        Log.Quiet = false;
        using var s = SolverFactory.Create(p, quiet: false);
        s.UseBackend(backend);
        s.Solve(resume);
        Log.Quiet = true;
        return log.ToString().Split('\n')
            .Select(l => Regex.Match(l, @"\] (Iteration \d+) \(.*\), (loss = \S+)"))
            .Where(m => m.Success).Select(m => m.Groups[1].Value + " " + m.Groups[2].Value).ToList();
    }

    [Test]
    public void ResumedRunEndsWithIdenticalWeightsAndLosses()
    {
        var net = NetText();
        var straight = Run(Solver(net, "a", 20));
        Run(Solver(net, "b", 10));
        var resumed = Run(Solver(net, "b", 20), Path.Combine(_dir, "b_iter_10.solverstate"));

        var a = File.ReadAllBytes(Path.Combine(_dir, "a_iter_20.caffemodel"));
        var b = File.ReadAllBytes(Path.Combine(_dir, "b_iter_20.caffemodel"));
        Assert.That(b, Is.EqualTo(a), "weights after 20 iterations");
        Assert.That(resumed, Is.EqualTo(straight.Skip(10).ToList()), "losses printed after resuming");
        Assert.That(resumed, Has.Count.EqualTo(10));
    }

    // The snapshot files are the same format on every backend: a run snapshotted on a device and
    // resumed on the CPU (and the other way round) ends where a run that stayed on the CPU ends,
    // to float rounding (the device computes in another order).
    [TestCase("cpu")]
    [TestCase("opencl")]
    public void SnapshotOnADeviceResumesOnTheCpuAndBack(string backendName)
    {
        var backend = DeviceLayerCheck.Backend(backendName);
        var net = NetText();
        Run(Solver(net, "host", 20));
        Run(Solver(net, "dev", 10), backend: backend);
        Run(Solver(net, "dev", 20), Path.Combine(_dir, "dev_iter_10.solverstate"));
        Run(Solver(net, "back", 10));
        Run(Solver(net, "back", 20), Path.Combine(_dir, "back_iter_10.solverstate"), backend);
        static List<float[]> Weights(string path) => NetParameter.Parser.ParseFrom(File.ReadAllBytes(path))
            .Layer.SelectMany(l => l.Blobs).Select(b => b.Data.ToArray()).ToList();
        var expected = Weights(Path.Combine(_dir, "host_iter_20.caffemodel"));
        foreach (var run in new[] { "dev", "back" })
        {
            var actual = Weights(Path.Combine(_dir, $"{run}_iter_20.caffemodel"));
            Assert.That(actual, Has.Count.EqualTo(expected.Count));
            for (int i = 0; i < expected.Count; i++)
                DeviceLayerCheck.AssertClose(actual[i], expected[i], 1e-3f, $"{run}: blob {i} after 20 iterations");
        }
    }

    // The data layer reads ahead on a thread by data_param.prefetch batches; the count changes
    // nothing, not even across a resume with another count.
    [Test]
    public void PrefetchCountChangesNothingEvenAcrossAResume()
    {
        var straight = Run(Solver(NetText(prefetch: 0), "p0", 20));
        Run(Solver(NetText(prefetch: 6), "p6", 10));
        var resumed = Run(Solver(NetText(prefetch: 1), "p6", 20), Path.Combine(_dir, "p6_iter_10.solverstate"));
        // The files differ in the net they carry (its prefetch field), not in the weights.
        static List<float[]> Weights(string path) => NetParameter.Parser.ParseFrom(File.ReadAllBytes(path))
            .Layer.SelectMany(l => l.Blobs).Select(b => b.Data.ToArray()).ToList();
        var a = Weights(Path.Combine(_dir, "p0_iter_20.caffemodel"));
        var b = Weights(Path.Combine(_dir, "p6_iter_20.caffemodel"));
        Assert.That(a, Has.Count.EqualTo(4));
        Assert.That(b, Is.EqualTo(a), "weights after 20 iterations");
        Assert.That(resumed, Is.EqualTo(straight.Skip(10).ToList()));
    }

    [Test]
    public void EachDisplayLogsTheDataWaitOnALineCaffesParsersSkip()
    {
        var log = new StringWriter();
        Log.Writer = log;
        Log.Quiet = false;
        using (var s = SolverFactory.Create(Solver(NetText(), "w", 6), quiet: false)) s.Solve();
        Log.Quiet = true;
        var waits = log.ToString().Split('\n').Where(l => l.Contains("data wait")).ToList();
        Assert.That(waits, Has.Count.EqualTo(6), "one per display (display: 1, 6 iterations)");
        for (int i = 0; i < waits.Count; i++)
        {
            Assert.That(waits[i], Does.Match($@"\] Iteration {i}, data wait \d+\.\d% of \d+\.\d\d s \(\d+\.\d ms\)$"));
            Assert.That(waits[i], Does.Not.Contain("loss = ").And.Not.Contain("lr = ").And.Not.Contain("net output"));
        }
        var parsed = Engine.Tools.TrainingLog.Parse(log.ToString());
        Assert.That(parsed.Loss.Points.Select(p => p.Iteration), Is.EqualTo(new[] { 0, 1, 2, 3, 4, 5, 6 }));
    }

    [Test]
    public void DataWaitLineIsTheShareOfTheInterval()
    {
        Assert.That(Engine.Solvers.Solver.DataWaitLine(100, 0.0123, 1.23), Is.EqualTo("Iteration 100, data wait 1.0% of 1.23 s (12.3 ms)"));
        Assert.That(Engine.Solvers.Solver.DataWaitLine(7, 0.5, 2), Is.EqualTo("Iteration 7, data wait 25.0% of 2.00 s (500.0 ms)"));
        Assert.That(Engine.Solvers.Solver.DataWaitLine(0, 0, 0), Is.EqualTo("Iteration 0, data wait 0.0% of 0.00 s (0.0 ms)"));
    }

    [Test]
    public void ResumeAcceptsTheCaffemodelAndFindsItsPartner()
    {
        var net = NetText();
        Run(Solver(net, "c", 10));
        var log = new StringWriter();
        Log.Writer = log;
        Log.Quiet = false;
        var s = SolverFactory.Create(Solver(net, "c", 12), quiet: false);
        s.Restore(Path.Combine(_dir, "c_iter_10.caffemodel"));
        Assert.That(s.Iter, Is.EqualTo(10));
        Assert.That(log.ToString(), Does.Contain("iteration 10").And.Contain("solver SGD").And.Contain("learning rate 0.025"));
    }

    [Test]
    public void ResumeWithoutThePartnerSaysWhatIsMissing()
    {
        var net = NetText();
        Run(Solver(net, "d", 10));
        File.Delete(Path.Combine(_dir, "d_iter_10.solverstate"));
        var s = SolverFactory.Create(Solver(net, "d", 12), quiet: true);
        var e = Assert.Throws<EngineException>(() => s.Restore(Path.Combine(_dir, "d_iter_10.caffemodel")))!;
        Assert.That(e.Message, Does.Contain("d_iter_10.solverstate"));
    }

    [Test]
    public void SnapshotsAreCaffeFilesAndLeaveNoTemporaries()
    {
        var net = NetText();
        Run(Solver(net, "e", 10));
        var files = Directory.GetFiles(_dir).Select(Path.GetFileName).ToList();
        Assert.That(files, Is.EquivalentTo(new[] { "e_iter_10.caffemodel", "e_iter_10.solverstate" }));
        // Decode with the plain protobuf parser: Caffe's messages, Caffe's field numbers.
        var state = SolverState.Parser.ParseFrom(File.ReadAllBytes(Path.Combine(_dir, "e_iter_10.solverstate")));
        Assert.That(state.Iter, Is.EqualTo(10));
        Assert.That(state.LearnedNet, Does.EndWith("e_iter_10.caffemodel"));
        Assert.That(state.History, Has.Count.EqualTo(4));
        Assert.That(state.CurrentStep, Is.EqualTo(1));
        var model = NetParameter.Parser.ParseFrom(File.ReadAllBytes(Path.Combine(_dir, "e_iter_10.caffemodel")));
        var ip1 = model.Layer.Single(l => l.Name == "ip1");
        Assert.That(ip1.Blobs.Select(b => string.Join("x", b.Shape.Dim)), Is.EqualTo(new[] { "10x36", "10" }));
        Assert.That(ip1.Blobs[0].Data, Has.Count.EqualTo(360));
    }

    [Test]
    public void StopRequestEndsAfterTheIterationWithAFinalSnapshot()
    {
        var s = SolverFactory.Create(Solver(NetText(), "f", 20), quiet: true);
        s.Request(SignalEffect.Stop); // what Ctrl-C does with --sigint-effect stop
        s.Solve();
        Assert.That(s.Iter, Is.EqualTo(1));
        Assert.That(File.Exists(Path.Combine(_dir, "f_iter_1.caffemodel")) && File.Exists(Path.Combine(_dir, "f_iter_1.solverstate")));
    }

    [Test]
    public void SnapshotRequestSnapshotsAndGoesOn()
    {
        var s = SolverFactory.Create(Solver(NetText(), "g", 12), quiet: true);
        s.Request(SignalEffect.Snapshot);
        s.Solve();
        Assert.That(s.Iter, Is.EqualTo(12));
        var files = Directory.GetFiles(_dir, "g_iter_*.caffemodel").Select(Path.GetFileName).Order().ToList();
        Assert.That(files, Is.EqualTo(new[] { "g_iter_1.caffemodel", "g_iter_10.caffemodel", "g_iter_12.caffemodel" }));
    }
}
