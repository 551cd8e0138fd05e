using Engine.Cli;
using Engine.Core;
using Engine.Graph;
using Engine.IO;
using Engine.Proto;
using Engine.Tests.Support;
using NUnit.Framework;

namespace Engine.Tests.Cli;

/// <summary>`engine forward`: .npy in, .npy out, gradients with --backward, the same numbers as `engine test`.</summary>
[TestFixture]
[NonParallelizable]
public class ForwardCommandTests
{
    private string _dir = "";

    [SetUp]
    public void MakeDir()
    {
        _dir = Path.Combine(Path.GetTempPath(), "engine-forward-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(_dir);
    }

    [TearDown]
    public void RemoveDir() => Directory.Delete(_dir, recursive: true);

    private static (int code, string stdout, string stderr) Engine(params string[] args) => EngineRunner.Run(args);

    private string Write(string name, string text)
    {
        var path = Path.Combine(_dir, name);
        File.WriteAllText(path, text);
        return path;
    }

    // ------------------------------------------------------------------ LeNet: forward vs engine test

    private const int Side = 12, Classes = 3, TestImages = 30, TestBatch = 10;

    private static string LeNetLayers(string bottom) => $$"""
        layer { name: "conv1" type: "Convolution" bottom: "{{bottom}}" top: "conv1"
          convolution_param { num_output: 4 kernel_size: 5 weight_filler { type: "xavier" } } }
        layer { name: "pool1" type: "Pooling" bottom: "conv1" top: "pool1" pooling_param { pool: MAX kernel_size: 2 stride: 2 } }
        layer { name: "ip1" type: "InnerProduct" bottom: "pool1" top: "ip1" inner_product_param { num_output: 16 weight_filler { type: "xavier" } } }
        layer { name: "relu1" type: "ReLU" bottom: "ip1" top: "ip1" }
        layer { name: "ip2" type: "InnerProduct" bottom: "ip1" top: "ip2" inner_product_param { num_output: {{Classes}} weight_filler { type: "xavier" } } }
        """;

    [Test]
    public void ForwardOnLeNetReproducesEngineTestAccuracy()
    {
        var (trainImages, trainLabels) = IdxFiles.WriteLearnable(Path.Combine(_dir, "train"), 60, Side, Side, Classes, seed: 3);
        var (testImages, testLabels) = IdxFiles.WriteLearnable(Path.Combine(_dir, "test"), TestImages, Side, Side, Classes, seed: 11);
        var trainTest = Write("lenet_train_test.prototxt", $$"""
            name: "tiny-lenet"
            layer { name: "mnist" type: "Data" top: "data" top: "label" include { phase: TRAIN }
              data_param { source: "{{trainImages}}" label_source: "{{trainLabels}}" backend: IDX batch_size: 10 }
              transform_param { scale: 0.00390625 } }
            layer { name: "mnist" type: "Data" top: "data" top: "label" include { phase: TEST }
              data_param { source: "{{testImages}}" label_source: "{{testLabels}}" backend: IDX batch_size: {{TestBatch}} }
              transform_param { scale: 0.00390625 } }
            {{LeNetLayers("data")}}
            layer { name: "accuracy" type: "Accuracy" bottom: "ip2" bottom: "label" top: "accuracy" include { phase: TEST } }
            layer { name: "loss" type: "SoftmaxWithLoss" bottom: "ip2" bottom: "label" top: "loss" }
            """);
        var deploy = Write("lenet.prototxt", $$"""
            name: "tiny-lenet"
            layer { name: "data" type: "Input" top: "data" input_param { shape { dim: 1 dim: 1 dim: {{Side}} dim: {{Side}} } } }
            {{LeNetLayers("data")}}
            layer { name: "prob" type: "Softmax" bottom: "ip2" top: "prob" }
            """);
        var solver = Write("solver.prototxt", $$"""
            net: "{{trainTest}}"
            base_lr: 0.02 momentum: 0.9 lr_policy: "fixed" max_iter: 12 display: 0
            snapshot_prefix: "{{Path.Combine(_dir, "lenet")}}" random_seed: 5 solver_mode: CPU
            """);
        var (trainCode, _, trainErr) = Engine("train", "--solver", solver);
        Assert.That(trainCode, Is.EqualTo(0), trainErr);
        var weights = Path.Combine(_dir, "lenet_iter_12.caffemodel");
        Assert.That(File.Exists(weights));

        // engine test over every test image once.
        var (testCode, testOut, testErr) = Engine("test", "--model", trainTest, "--weights", weights, "--iterations", (TestImages / TestBatch).ToString());
        Assert.That(testCode, Is.EqualTo(0), testErr);
        var printed = testOut.Split('\n').Select(l => l.Trim()).Where(l => l.StartsWith("accuracy = ") || l.StartsWith("loss = ")).ToList();
        double testAccuracy = double.Parse(printed.Single(l => l.StartsWith("accuracy")).Split(' ')[2], System.Globalization.CultureInfo.InvariantCulture);
        double testLoss = double.Parse(printed.Single(l => l.StartsWith("loss")).Split(' ')[2], System.Globalization.CultureInfo.InvariantCulture);

        // The same images as the Data layer sees them (uint8 × scale), N×1×H×W, and the labels.
        var pixels = File.ReadAllBytes(testImages)[16..];
        var labels = File.ReadAllBytes(testLabels)[8..];
        var x = pixels.Select(p => p * 0.00390625f).ToArray();
        var input = Path.Combine(_dir, "x.npy");
        NpyFile.Write(input, [TestImages, 1, Side, Side], x);

        var output = Path.Combine(_dir, "out");
        var (code, stdout, stderr) = Engine("forward", "-model", deploy, "-weights", weights, "-input", "data=" + input, "-output", output);
        Assert.That(code, Is.EqualTo(0), stderr);
        Assert.That(stdout, Does.Contain("prob.npy"));
        var (shape, prob) = NpyFile.Read(Path.Combine(output, "prob.npy"));
        Assert.That(shape, Is.EqualTo(new[] { TestImages, Classes }));

        int correct = 0;
        double loss = 0;
        for (int n = 0; n < TestImages; n++)
        {
            var row = prob.AsSpan(n * Classes, Classes);
            int best = 0;
            for (int c = 1; c < Classes; c++) if (row[c] > row[best]) best = c;
            if (best == labels[n]) correct++;
            loss -= Math.Log(Math.Max(row[labels[n]], float.MinValue));
        }
        double accuracy = correct / (double)TestImages;
        TestContext.Out.WriteLine($"engine test: accuracy {testAccuracy}, loss {testLoss}; engine forward: accuracy {accuracy}, loss {loss / TestImages}");
        Assert.That(accuracy, Is.EqualTo(testAccuracy).Within(1e-6));
        Assert.That(accuracy, Is.GreaterThan(1.0 / Classes).And.LessThan(1), "partly trained: a comparison that can tell nets apart");
        Assert.That(loss / TestImages, Is.EqualTo(testLoss).Within(1e-5 * Math.Max(1, testLoss)));
    }

    // ------------------------------------------------------------------ gradients vs finite differences

    private const string SmallNet = """
        name: "small"
        layer { name: "data" type: "Input" top: "data" input_param { shape { dim: 2 dim: 3 } } }
        layer { name: "ip1" type: "InnerProduct" bottom: "data" top: "hidden/ip1"
          inner_product_param { num_output: 4 weight_filler { type: "gaussian" std: 1 } bias_filler { type: "uniform" min: -0.5 max: 0.5 } } }
        layer { name: "relu1" type: "ReLU" bottom: "hidden/ip1" top: "hidden/ip1" }
        layer { name: "ip2" type: "InnerProduct" bottom: "hidden/ip1" top: "ip2"
          inner_product_param { num_output: 2 weight_filler { type: "gaussian" std: 1 } bias_filler { type: "uniform" min: -0.5 max: 0.5 } } }
        """;

    private static readonly float[] SmallInput = [0.9f, -0.4f, 0.3f, -0.7f, 0.5f, 1.1f];

    private (string model, string weights, string input) WriteSmallNet()
    {
        var model = Write("small.prototxt", SmallNet);
        var net = Net.FromFile(model, Phase.Test, seed: 4242, quiet: true);
        var weights = Path.Combine(_dir, "small.caffemodel");
        WeightsFile.WriteAtomic(weights, net.ToProto());
        var input = Path.Combine(_dir, "in.npy");
        NpyFile.Write(input, [2, 3], SmallInput);
        return (model, weights, input);
    }

    [Test]
    public void BackwardMatchesFiniteDifferences()
    {
        var (model, weights, input) = WriteSmallNet();
        var output = Path.Combine(_dir, "out");
        var (code, _, stderr) = Engine("forward", "--model", model, "--weights", weights, "--input", "data=" + input,
            "--output", output, "--backward", "--loss", "ip2", "--blobs", "ip2,hidden/ip1");
        Assert.That(code, Is.EqualTo(0), stderr);
        Assert.That(File.Exists(Path.Combine(output, "hidden_ip1.npy")), "'/' in a blob name becomes '_'");

        // f = sum(ip2), evaluated with the C# API on a net holding the same weights.
        var net = Net.FromFile(model, Phase.Test, quiet: true);
        net.CopyTrainedLayersFrom(weights);
        var x = (float[])SmallInput.Clone();
        double F()
        {
            var y = net.Forward(new Dictionary<string, (int[], float[])> { ["data"] = ([2, 3], x) }, ["ip2"])["ip2"].data;
            return y.Sum(v => (double)v);
        }
        var (ipShape, ip2) = NpyFile.Read(Path.Combine(output, "ip2.npy"));
        Assert.That(ipShape, Is.EqualTo(new[] { 2, 2 }));
        Assert.That(ip2.Sum(v => (double)v), Is.EqualTo(F()).Within(1e-5));

        // No hidden unit may sit on ReLU's kink, or the finite differences mean nothing.
        var hidden = NpyFile.Read(Path.Combine(output, "hidden_ip1.npy")).data;
        Assert.That(hidden, Has.Some.GreaterThan(0.05f), "some hidden units are active");

        const float Eps = 1e-3f;
        void Check(string file, Span<float> values, string what)
        {
            var (_, grad) = NpyFile.Read(Path.Combine(output, "grad", file));
            Assert.That(grad, Has.Length.EqualTo(values.Length), what);
            for (int i = 0; i < values.Length; i++)
            {
                float keep = values[i];
                values[i] = keep + Eps;
                double up = F();
                values[i] = keep - Eps;
                double down = F();
                values[i] = keep;
                double numeric = (up - down) / (2 * Eps);
                Assert.That(grad[i], Is.EqualTo(numeric).Within(2e-3 + 2e-3 * Math.Abs(numeric)), $"{what}[{i}]");
            }
        }
        Check("data.npy", x, "d/d data");
        Check("ip1_0.npy", net.Layer("ip1").Blobs[0].Data, "d/d ip1 weight");
        Check("ip1_1.npy", net.Layer("ip1").Blobs[1].Data, "d/d ip1 bias");
        Check("ip2_0.npy", net.Layer("ip2").Blobs[0].Data, "d/d ip2 weight");
        Check("ip2_1.npy", net.Layer("ip2").Blobs[1].Data, "d/d ip2 bias");
        Assert.That(NpyFile.Read(Path.Combine(output, "grad", "ip2_1.npy")).data, Is.All.EqualTo(2f), "d sum / d bias = batch size");
    }

    [Test]
    public void BackwardFromAHiddenBlobStopsThere()
    {
        var (model, weights, input) = WriteSmallNet();
        var net = Net.FromFile(model, Phase.Test, quiet: true);
        net.CopyTrainedLayersFrom(weights);
        var grads = net.Backward(new Dictionary<string, (int[], float[])> { ["data"] = ([2, 3], SmallInput) }, "hidden/ip1");
        Assert.That(grads.Params["ip2"][0].data, Is.All.EqualTo(0f), "layers above the blob get no gradient");
        var hidden = net.Blob("hidden/ip1").Data.ToArray();
        // d sum(relu(W x + b)) / d b_j = batch count of active units j.
        var db = grads.Params["ip1"][1].data;
        for (int j = 0; j < 4; j++)
            Assert.That(db[j], Is.EqualTo((hidden[j] > 0 ? 1 : 0) + (hidden[4 + j] > 0 ? 1 : 0)), $"bias {j}");
        Assert.That(grads.Inputs.Keys, Is.EqualTo(new[] { "data" }));
        Assert.That(grads.Params.Keys, Is.EquivalentTo(new[] { "ip1", "ip2" }));
    }

    [Test]
    public void RepeatedLayerNamesGetTheirOwnGradients()
    {
        var model = Write("repeated.prototxt", """
            layer { name: "data" type: "Input" top: "data" input_param { shape { dim: 1 dim: 2 } } }
            layer { name: "ip" type: "InnerProduct" bottom: "data" top: "h" inner_product_param { num_output: 2 weight_filler { type: "constant" value: 1 } } }
            layer { name: "ip" type: "InnerProduct" bottom: "h" top: "y" inner_product_param { num_output: 1 weight_filler { type: "constant" value: 2 } } }
            """);
        var net = Net.FromFile(model, Phase.Test, quiet: true);
        var grads = net.Backward(new Dictionary<string, (int[], float[])> { ["data"] = ([1, 2], [1, 3]) }, "y");
        Assert.That(grads.Params.Keys, Is.EquivalentTo(new[] { "ip", "ip#2" }));
        Assert.That(grads.Params["ip#2"][0].data, Is.EqualTo(new[] { 4f, 4f }), "dy/dW2 = h = (4, 4)");
        Assert.That(grads.Params["ip"][0].data, Is.EqualTo(new[] { 2f, 6f, 2f, 6f }), "dy/dW1 = W2ᵀ xᵀ");
        Assert.That(grads.Inputs["data"].data, Is.EqualTo(new[] { 4f, 4f }));
    }

    [Test]
    public void InputShapeReshapesTheNet()
    {
        var (model, weights, _) = WriteSmallNet();
        var input = Path.Combine(_dir, "five.npy");
        NpyFile.Write(input, [5, 3], new float[15]);
        var output = Path.Combine(_dir, "out");
        var (code, _, stderr) = Engine("forward", "--model", model, "--weights", weights, "--input=data=" + input, "--output", output);
        Assert.That(code, Is.EqualTo(0), stderr);
        Assert.That(NpyFile.Read(Path.Combine(output, "ip2.npy")).shape, Is.EqualTo(new[] { 5, 2 }), "outputs default to the net's outputs");
        Assert.That(Directory.Exists(Path.Combine(output, "grad")), Is.False);
    }

    // ------------------------------------------------------------------ errors: one line each

    private void AssertOneLineError(string[] args, params string[] expected)
    {
        var (code, _, stderr) = Engine(args);
        Assert.That(code, Is.Not.EqualTo(0));
        Assert.That(stderr.TrimEnd().Split('\n'), Has.Length.EqualTo(1), stderr);
        foreach (var e in expected) Assert.That(stderr, Does.Contain(e));
    }

    [Test]
    public void UnknownBlobListsTheAvailableOnes()
    {
        var (model, weights, input) = WriteSmallNet();
        var output = Path.Combine(_dir, "out");
        AssertOneLineError(["forward", "--model", model, "--weights", weights, "--input", "data=" + input, "--output", output, "--blobs", "prob"],
            "\"prob\"", "data", "hidden/ip1", "ip2");
        AssertOneLineError(["forward", "--model", model, "--input", "image=" + input, "--output", output],
            "\"image\" is not an input blob", "inputs: data");
        AssertOneLineError(["forward", "--model", model, "--input", "data=" + input, "--output", output, "--backward", "--loss", "los"],
            "\"los\"", "ip2");
    }

    [Test]
    public void WrongRankAndMissingFilesAreRefused()
    {
        var (model, weights, _) = WriteSmallNet();
        var output = Path.Combine(_dir, "out");
        var rank3 = Path.Combine(_dir, "rank3.npy");
        NpyFile.Write(rank3, [2, 3, 1], new float[6]);
        AssertOneLineError(["forward", "--model", model, "--weights", weights, "--input", "data=" + rank3, "--output", output],
            "\"data\"", "(2 3 1)", "3-D", "2-D");
        AssertOneLineError(["forward", "--model", model, "--input", "data=" + Path.Combine(_dir, "nope.npy"), "--output", output],
            "nope.npy: no such file");
        AssertOneLineError(["forward", "--model", model, "--weights", Path.Combine(_dir, "nope.caffemodel"), "--output", output],
            "nope.caffemodel: no such file");
        AssertOneLineError(["forward", "--model", Path.Combine(_dir, "nope.prototxt"), "--output", output], "nope.prototxt");
        AssertOneLineError(["forward", "--model", model, "--output", output, "--backward"], "--backward needs --loss");
        AssertOneLineError(["forward", "--model", model, "--input", "data", "--output", output], "NAME=FILE.npy");
        AssertOneLineError(["forward", "--model", model], "--output is required");
    }

    [Test]
    public void HelpListsTheFlags()
    {
        var (code, stdout, _) = Engine("forward", "--help");
        Assert.That(code, Is.EqualTo(0));
        Assert.That(stdout, Does.Contain("--input").And.Contain("(repeatable)").And.Contain("--backward").And.Contain("--loss").And.Contain("--blobs"));
        Assert.That(Engine("--help").stdout, Does.Contain("forward"));
    }

    [Test]
    public void TwoInputsAreFilledByName()
    {
        var model = Write("two.prototxt", """
            layer { name: "a" type: "Input" top: "a" input_param { shape { dim: 1 dim: 2 } } }
            layer { name: "b" type: "Input" top: "b" input_param { shape { dim: 1 dim: 2 } } }
            layer { name: "ip" type: "InnerProduct" bottom: "a" top: "ipa" param { name: "w" } param { name: "bias" }
              inner_product_param { num_output: 1 weight_filler { type: "constant" value: 1 } } }
            layer { name: "ipb" type: "InnerProduct" bottom: "b" top: "ipb" param { name: "w" } param { name: "bias" }
              inner_product_param { num_output: 1 } }
            """);
        var a = Path.Combine(_dir, "a.npy");
        var b = Path.Combine(_dir, "b.npy");
        NpyFile.Write(a, [3, 2], [1, 2, 3, 4, 5, 6]);
        NpyFile.Write(b, [1, 2], [10, 20]);
        var output = Path.Combine(_dir, "out");
        var (code, _, stderr) = Engine("forward", "--model", model, "--input", "a=" + a, "--input", "b=" + b, "--output", output, "--backward", "--loss", "ipa");
        Assert.That(code, Is.EqualTo(0), stderr);
        Assert.That(NpyFile.Read(Path.Combine(output, "ipa.npy")).data, Is.EqualTo(new[] { 3f, 7f, 11f }));
        Assert.That(NpyFile.Read(Path.Combine(output, "ipb.npy")).data, Is.EqualTo(new[] { 30f }));
        Assert.That(NpyFile.Read(Path.Combine(output, "grad", "a.npy")).data, Is.All.EqualTo(1f));
        Assert.That(NpyFile.Read(Path.Combine(output, "grad", "b.npy")).data, Is.All.EqualTo(0f), "b does not reach ipa");
        Assert.That(NpyFile.Read(Path.Combine(output, "grad", "ip_0.npy")).data, Is.EqualTo(new[] { 9f, 12f }));
    }
}
