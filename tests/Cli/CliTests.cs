using Engine.Cli;
using Engine.Core;
using Engine.Tests.Support;
using NUnit.Framework;

namespace Engine.Tests.Cli;

/// <summary>The `engine` command as a user runs it: exit codes, one-line errors, Caffe's spellings, the log lines.</summary>
[TestFixture]
[NonParallelizable]
public class CliTests
{
    private string _dir = "";

    [SetUp]
    public void MakeDir()
    {
        _dir = Path.Combine(Path.GetTempPath(), "engine-cli-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(_dir);
    }

    [TearDown]
    public void RemoveDir() => Directory.Delete(_dir, recursive: true);

    private static (int code, string stdout, string stderr) Engine(params string[] args) => EngineRunner.Run(args);

    private (string solver, string net) WriteTinyProblem(int maxIter = 6)
    {
        var (images, labels) = IdxFiles.WriteLearnable(Path.Combine(_dir, "data"), 40, 5, 5, 2);
        var net = Path.Combine(_dir, "net.prototxt");
        File.WriteAllText(net, $$"""
            name: "tiny"
            layer { name: "data" type: "Data" top: "data" top: "label"
              data_param { source: "{{images}}" label_source: "{{labels}}" backend: IDX batch_size: 10 }
              transform_param { scale: 0.00390625 } }
            layer { name: "ip" type: "InnerProduct" bottom: "data" top: "ip"
              inner_product_param { num_output: 2 weight_filler { type: "xavier" } } }
            layer { name: "accuracy" type: "Accuracy" bottom: "ip" bottom: "label" top: "accuracy" include { phase: TEST } }
            layer { name: "loss" type: "SoftmaxWithLoss" bottom: "ip" bottom: "label" top: "loss" }
            """);
        var solver = Path.Combine(_dir, "solver.prototxt");
        File.WriteAllText(solver, $$"""
            net: "{{net}}"
            test_iter: 2
            test_interval: 3
            base_lr: 0.1
            momentum: 0.9
            lr_policy: "fixed"
            display: 2
            max_iter: {{maxIter}}
            snapshot: 3
            snapshot_prefix: "{{Path.Combine(_dir, "snap")}}"
            random_seed: 1
            # Caffe's default, kept by most real solver files: runs on the CPU with a warning.
            solver_mode: GPU
            """);
        return (solver, net);
    }

    [Test]
    public void TrainPrintsCaffeLogLinesAndSnapshots()
    {
        var (solver, _) = WriteTinyProblem();
        var (code, stdout, stderr) = Engine("train", "--solver", solver);
        Assert.That(code, Is.EqualTo(0), stderr);
        Assert.That(stdout, Does.Match(@"Iteration 2 \([\d.e+]+ iter/s, [\d.]+s/2 iters\), loss = [\d.]+"));
        Assert.That(stdout, Does.Contain("Train net output #0: loss = "));
        Assert.That(stdout, Does.Contain("Iteration 2, lr = 0.1"));
        Assert.That(stdout, Does.Contain("Iteration 3, Testing net (#0)"));
        Assert.That(stdout, Does.Match(@"Test net output #0: accuracy = [\d.]+"));
        Assert.That(stdout, Does.Match(@"Test net output #1: loss = [\d.]+ \(\* 1 = [\d.]+ loss\)"));
        Assert.That(stdout, Does.Contain("Snapshotting to binary proto file").And.Contain("snap_iter_6.caffemodel"));
        Assert.That(stdout, Does.Contain("solver_mode: GPU"));
        Assert.That(File.Exists(Path.Combine(_dir, "snap_iter_3.solverstate")));
        Assert.That(File.Exists(Path.Combine(_dir, "snap_iter_6.caffemodel")));
    }

    [Test]
    public void CaffeSingleDashSpellingsWork()
    {
        var (solver, net) = WriteTinyProblem();
        Assert.That(Engine("train", "-solver", solver).code, Is.EqualTo(0));
        var weights = Path.Combine(_dir, "snap_iter_6.caffemodel");
        var (code, stdout, stderr) = Engine("test", "-model", net, "-weights", weights, "-iterations", "3");
        Assert.That(code, Is.EqualTo(0), stderr);
        var last = stdout.TrimEnd().Split('\n').TakeLast(2).ToArray();
        Assert.That(last[0], Does.Match(@"^accuracy = [\d.]+$"));
        Assert.That(last[1], Does.Match(@"^loss = [\d.]+ \(\* 1 = [\d.]+ loss\)$"));
    }

    [Test]
    public void ResumeFromSnapshotSaysWhatItRestored()
    {
        var (solver, _) = WriteTinyProblem();
        Assert.That(Engine("train", "--solver", solver).code, Is.EqualTo(0));
        var (code, stdout, stderr) = Engine("train", "--solver=" + solver, "--snapshot=" + Path.Combine(_dir, "snap_iter_3.caffemodel"));
        Assert.That(code, Is.EqualTo(0), stderr);
        Assert.That(stdout, Does.Contain("Restored from").And.Contain("iteration 3").And.Contain("solver SGD"));
        Assert.That(stdout, Does.Not.Contain("Iteration 2 ("));
    }

    [Test]
    public void TimePrintsPerLayerAndAverages()
    {
        var (_, net) = WriteTinyProblem();
        var (code, stdout, stderr) = Engine("time", "--model", net, "--iterations", "2");
        Assert.That(code, Is.EqualTo(0), stderr);
        Assert.That(stdout, Does.Match(@"ip\tforward: [\d.e-]+ ms\."));
        Assert.That(stdout, Does.Match(@"ip\tbackward: [\d.e-]+ ms\."));
        Assert.That(stdout, Does.Match(@"Average Forward pass: [\d.e-]+ ms\."));
        Assert.That(stdout, Does.Match(@"Average Backward pass: [\d.e-]+ ms\."));
        Assert.That(stdout, Does.Match(@"Average Forward-Backward: [\d.e-]+ ms\."));
    }

    [Test]
    public void MissingFlagIsOneLineAndNonZero()
    {
        var (code, _, stderr) = Engine("train");
        Assert.That(code, Is.Not.EqualTo(0));
        Assert.That(stderr.TrimEnd().Split('\n'), Has.Length.EqualTo(1));
        Assert.That(stderr, Does.Contain("--solver is required"));
    }

    [Test]
    public void UnknownFlagSuggestsTheNearestOne()
    {
        var (code, _, stderr) = Engine("test", "--modle", "x");
        Assert.That(code, Is.Not.EqualTo(0));
        Assert.That(stderr, Does.Contain("--modle").And.Contain("did you mean --model"));
    }

    [Test]
    public void BrokenPrototxtGivesFileLineColumn()
    {
        var bad = Path.Combine(_dir, "bad.prototxt");
        File.WriteAllText(bad, "name: \"x\"\nlayer {\n  name: \"c\"\n  type: \"Convolution\"\n  convolution_param { num_ouput: 3 }\n}\n");
        var (code, _, stderr) = Engine("time", "--model", bad);
        Assert.That(code, Is.Not.EqualTo(0));
        Assert.That(stderr.TrimEnd().Split('\n'), Has.Length.EqualTo(1));
        Assert.That(stderr, Does.Contain($"{bad}:5:23").And.Contain("num_output"));
    }

    [Test]
    public void WeightsAndSnapshotTogetherAreRefused()
    {
        var (code, _, stderr) = Engine("train", "--solver", "s", "--weights", "w", "--snapshot", "x");
        Assert.That(code, Is.Not.EqualTo(0));
        Assert.That(stderr, Does.Contain("not both"));
    }

    [Test]
    public void HelpListsTheFlags()
    {
        var (code, stdout, _) = Engine("train", "--help");
        Assert.That(code, Is.EqualTo(0));
        Assert.That(stdout, Does.Contain("--solver").And.Contain("--snapshot").And.Contain("--sigint-effect").And.Contain("--threads"));
    }
}
