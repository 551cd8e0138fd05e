using System.Xml.Linq;
using Engine.Text;
using Engine.Tests.Support;
using Engine.Tools;
using NUnit.Framework;

namespace Engine.Tests.Tools;

/// <summary>`engine plot`, `engine draw` and `engine device-query`, run in-process.</summary>
[TestFixture]
[NonParallelizable]
public class ToolsTests
{
    private string _dir = "";

    [SetUp]
    public void MakeDir()
    {
        _dir = Path.Combine(Path.GetTempPath(), "engine-tools-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(_dir);
    }

    [TearDown]
    public void RemoveDir() => Directory.Delete(_dir, recursive: true);

    // Our lines (glog prefix with our source names) mixed with Caffe's (solver.cpp prefixes, the old
    // "Iteration N, loss = L" form and the newer "(x iter/s, ...)" form).
    private const string Log = """
        I0101 10:00:00.000001   4242 solver] Solving LeNet
        I0101 10:00:00.000002   4242 solver] Iteration 0, Testing net (#0)
        I0101 10:00:00.000003   4242 solver]     Test net output #0: accuracy = 0.1
        I0101 10:00:00.000004   4242 solver]     Test net output #1: loss = 2.3 (* 1 = 2.3 loss)
        I0101 10:00:00.000005   4242 solver] Iteration 0 (0 iter/s, 0.1s/100 iters), loss = 2.31
        I0101 10:00:00.000006   4242 solver]     Train net output #0: loss = 2.31 (* 1 = 2.31 loss)
        I0101 10:00:00.000007   4242 solver] Iteration 0, lr = 0.01
        I0101 10:00:01.000000  4242 solver.cpp:218] Iteration 100, loss = 0.25
        I0101 10:00:01.000001  4242 solver.cpp:234]     Train net output #0: loss = 0.25 (* 1 = 0.25 loss)
        I0101 10:00:01.000002  4242 sgd_solver.cpp:106] Iteration 100, lr = 0.00992565
        I0101 10:00:02.000000  4242 solver.cpp:330] Iteration 200, Testing net (#0)
        I0101 10:00:02.000001  4242 solver.cpp:397]     Test net output #0: accuracy = 0.9712
        I0101 10:00:02.000002  4242 solver.cpp:397]     Test net output #1: loss = 8.5e-02 (* 1 = 0.085 loss)
        I0101 10:00:02.000003  4242 solver.cpp:330] Iteration 200, Testing net (#1)
        I0101 10:00:02.000004  4242 solver.cpp:397]     Test net output #0: accuracy = 0.95
        I0101 10:00:02.000005  4242 solver.cpp:218] Iteration 200 (52.1 iter/s, 1.92s/100 iters), loss = 0.125
        I0101 10:00:02.000006  4242 sgd_solver.cpp:106] Iteration 200, lr = 0.0098
        """;

    [Test]
    public void ParserReadsEverySeriesExactly()
    {
        var log = TrainingLog.Parse(Log);
        Assert.That(log.Loss.Points, Is.EqualTo(new[] { (0, 2.31), (100, 0.25), (200, 0.125) }));
        Assert.That(log.LearningRate.Points, Is.EqualTo(new[] { (0, 0.01), (100, 0.00992565), (200, 0.0098) }));
        Assert.That(log.TestOutputs.Select(s => s.Name), Is.EqualTo(new[] { "test #0 accuracy", "test #0 loss", "test #1 accuracy" }));
        Assert.That(log.TestOutputs[0].Points, Is.EqualTo(new[] { (0, 0.1), (200, 0.9712) }));
        Assert.That(log.TestOutputs[1].Points, Is.EqualTo(new[] { (0, 2.3), (200, 0.085) }));
        Assert.That(log.TestOutputs[2].Points, Is.EqualTo(new[] { (200, 0.95) }));
        Assert.That(log.TrainOutputs.Single().Points, Is.EqualTo(new[] { (0, 2.31), (100, 0.25) }));
    }

    [Test]
    public void PlotWritesAnSvgWithEverySeries()
    {
        var logPath = Path.Combine(_dir, "train.log");
        File.WriteAllText(logPath, Log);
        var output = Path.Combine(_dir, "curves.svg");
        var (code, stdout, stderr) = EngineRunner.Run("plot", logPath, "-output", output);
        Assert.That(code, Is.EqualTo(0), stderr + stdout);
        var doc = XDocument.Load(output);
        XNamespace ns = "http://www.w3.org/2000/svg";
        var series = doc.Descendants(ns + "polyline").Where(p => (string?)p.Attribute("class") == "series")
            .ToDictionary(p => (string)p.Attribute("data-name")!);
        Assert.That(series.Keys, Is.EquivalentTo(new[] { "loss", "lr", "test #0 accuracy", "test #0 loss", "test #1 accuracy", "train loss" }));
        Assert.That((string)series["loss"].Attribute("data-points")!, Is.EqualTo("0:2.31 100:0.25 200:0.125"));
        Assert.That(((string)series["loss"].Attribute("points")!).Split(' '), Has.Length.EqualTo(3));
        Assert.That((string)series["test #0 accuracy"].Attribute("data-points")!, Is.EqualTo("0:0.1 200:0.9712"));
        var texts = doc.Descendants(ns + "text").Select(t => t.Value).ToList();
        Assert.That(texts, Does.Contain("training loss").And.Contain("learning rate").And.Contain("test outputs"));
        Assert.That(texts, Does.Contain("test #1 accuracy").And.Contain("iteration").And.Contain("200"));
        Assert.That(doc.Descendants(ns + "g").Count(g => (string?)g.Attribute("class") == "panel"), Is.EqualTo(4));
    }

    [Test]
    public void PlotOfALogWithoutIterationsIsAOneLineError()
    {
        var logPath = Path.Combine(_dir, "empty.log");
        File.WriteAllText(logPath, "I0101 10:00:00.000001  4242 net.cpp:1] nothing here\n");
        var (code, _, stderr) = EngineRunner.Run("plot", logPath, "--output", Path.Combine(_dir, "x.svg"));
        Assert.That(code, Is.EqualTo(1));
        Assert.That(stderr.Trim(), Does.StartWith("error: ").And.Contain("empty.log").And.Not.Contain("\n"));
    }

    private static string Model(string relative)
    {
        if (TestData.SharedModels == null) Assert.Ignore("../shared/models/caffe not found");
        var path = Path.Combine(TestData.SharedModels!, relative);
        if (!File.Exists(path)) Assert.Ignore($"{relative} not found");
        return path;
    }

    [TestCase("examples/mnist/lenet_train_test.prototxt", "TEST")]
    [TestCase("examples/mnist/lenet_train_test.prototxt", "TRAIN")]
    [TestCase("models/bvlc_googlenet/train_val.prototxt", "TRAIN")]
    [TestCase("models/bvlc_alexnet/deploy.prototxt", null)]
    [TestCase("models/ResNet-50/ResNet-50-deploy.prototxt", null)]
    public void DrawDotHasEveryLayerAndItsEdges(string relative, string? phase)
    {
        var model = Model(relative);
        var output = Path.Combine(_dir, "net.dot");
        var argv = new List<string> { "draw", "--model", model, "--output", output };
        if (phase != null) argv.AddRange(["-phase", phase]);
        var (code, stdout, stderr) = EngineRunner.Run([.. argv]);
        Assert.That(code, Is.EqualTo(0), stderr + stdout);
        var dot = File.ReadAllText(output);
        var net = Filtered(model, phase);
        Assert.That(dot, Does.StartWith("digraph"));
        foreach (var l in net.Layer)
        {
            Assert.That(dot, Does.Contain($"\"layer_{l.Name}\" ["), l.Name);
            foreach (var b in l.Bottom)
                Assert.That(dot, l.Top.Contains(b)
                    ? Does.Contain($"\"blob_{b}\" -> \"layer_{l.Name}\" [dir=both")
                    : Does.Contain($"\"blob_{b}\" -> \"layer_{l.Name}\";"), $"{b} -> {l.Name}");
            foreach (var t in l.Top.Where(t => !l.Bottom.Contains(t)))
                Assert.That(dot, Does.Contain($"\"layer_{l.Name}\" -> \"blob_{t}\";"), $"{l.Name} -> {t}");
        }
        if (phase == "TEST") Assert.That(dot, Does.Contain("accuracy"));
        if (phase == "TRAIN" && relative.Contains("lenet")) Assert.That(dot, Does.Not.Contain("layer_accuracy"));
    }

    [TestCase("examples/mnist/lenet_train_test.prototxt", "TEST")]
    [TestCase("models/bvlc_googlenet/train_val.prototxt", "TEST")]
    [TestCase("models/ResNet-50/ResNet-50-deploy.prototxt", null)]
    public void DrawSvgHasOneNodePerLayerAndBlob(string relative, string? phase)
    {
        var model = Model(relative);
        var output = Path.Combine(_dir, "net.svg");
        var argv = new List<string> { "draw", "--model", model, "--output", output };
        if (phase != null) argv.AddRange(["--phase", phase]);
        var (code, stdout, stderr) = EngineRunner.Run([.. argv]);
        Assert.That(code, Is.EqualTo(0), stderr + stdout);
        var doc = XDocument.Load(output);
        XNamespace ns = "http://www.w3.org/2000/svg";
        var net = Filtered(model, phase);
        var groups = doc.Descendants(ns + "g").ToList();
        var layers = groups.Where(g => (string?)g.Attribute("class") == "layer").Select(g => (string)g.Attribute("id")!).ToList();
        var blobs = groups.Where(g => (string?)g.Attribute("class") == "blob").Select(g => (string)g.Attribute("id")!).ToList();
        Assert.That(layers, Is.EqualTo(net.Layer.Select(l => "layer_" + l.Name)));
        var blobNames = net.Layer.SelectMany(l => l.Bottom.Concat(l.Top)).Concat(net.Input).Distinct().Select(b => "blob_" + b);
        Assert.That(blobs, Is.EquivalentTo(blobNames));
        Assert.That(groups.Where(g => (string?)g.Attribute("class") == "layer").All(g => g.Elements(ns + "rect").Count() == 1));
        Assert.That(groups.Where(g => (string?)g.Attribute("class") == "blob").All(g => g.Elements(ns + "ellipse").Count() == 1));
        // Every node lies inside the drawing.
        double w = double.Parse((string)doc.Root!.Attribute("width")!, System.Globalization.CultureInfo.InvariantCulture);
        foreach (var r in doc.Descendants(ns + "rect").Skip(1))
            Assert.That(double.Parse((string)r.Attribute("x")!, System.Globalization.CultureInfo.InvariantCulture), Is.InRange(0, w));
    }

    [Test]
    public void DrawShowsKeyParameters()
    {
        var model = Model("examples/mnist/lenet_train_test.prototxt");
        var output = Path.Combine(_dir, "lenet.dot");
        Assert.That(EngineRunner.Run("draw", "--model", model, "--output", output, "--phase", "TEST").code, Is.EqualTo(0));
        var dot = File.ReadAllText(output);
        Assert.That(dot, Does.Contain("conv1\\nConvolution\\nnum_output: 20, kernel: 5, stride: 1"));
        Assert.That(dot, Does.Contain("pool1\\nPooling\\nMAX, kernel: 2, stride: 2"));
        Assert.That(dot, Does.Contain("ip1\\nInnerProduct\\nnum_output: 500"));
    }

    [Test]
    public void DrawRejectsAnUnknownExtension()
    {
        var model = Model("examples/mnist/lenet_train_test.prototxt");
        var (code, _, stderr) = EngineRunner.Run("draw", "--model", model, "--output", Path.Combine(_dir, "net.png"));
        Assert.That(code, Is.EqualTo(1));
        Assert.That(stderr, Does.Contain(".svg or .dot"));
    }

    private static Engine.Proto.NetParameter Filtered(string model, string? phase)
    {
        var net = NetFiles.ReadNet(model);
        if (phase == null) return net;
        var state = new Engine.Proto.NetState { Phase = phase == "TRAIN" ? Engine.Proto.Phase.Train : Engine.Proto.Phase.Test };
        return Engine.Graph.NetFilter.Filter(net, state);
    }

    [Test]
    public void DeviceQueryPrintsTheCpuFeatures()
    {
        var (code, stdout, stderr) = EngineRunner.Run("device-query");
        Assert.That(code, Is.EqualTo(0), stderr);
        foreach (var key in new[] { "CPU: ", "Cores: ", "Avx2: ", "Fma: ", "Avx512F: ", "AdvSimd: ", "Vector512 accelerated: ", "GEMM kernel: " })
            Assert.That(stdout, Does.Contain("\n" + key).Or.StartWith(key), key);
        Assert.That(stdout, Does.Contain($"Cores: {Environment.ProcessorCount}"));
        // The OpenCL section follows (tests/OpenCL/DeviceSelectionTests checks its contents).
        Assert.That(stdout, Does.Contain("OpenCL devices: ").Or.Contain("OpenCL: no OpenCL device found ("));
        Assert.That(stdout, Does.Contain($"GEMM kernel: {Engine.Cpu.Blas.ActiveKernel}"));
        // The huge-page line names the kernel's own mode, read here independently.
        const string thp = "/sys/kernel/mm/transparent_hugepage/enabled";
        if (OperatingSystem.IsLinux() && File.Exists(thp))
        {
            var mode = System.Text.RegularExpressions.Regex.Match(File.ReadAllText(thp), @"\[(\w+)\]").Groups[1].Value;
            Assert.That(stdout, Does.Contain(mode == "never" ? "Huge pages: transparent huge pages off" : $"Huge pages: transparent huge pages mode {mode}; "));
        }
        else
        {
            Assert.That(stdout, Does.Contain("\nHuge pages: "));
        }
    }
}
