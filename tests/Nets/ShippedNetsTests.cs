using Engine.Core;
using Engine.Graph;
using Engine.Proto;
using Engine.Solvers;
using Engine.Tests.Support;
using Engine.Text;
using NUnit.Framework;

namespace Engine.Tests.Nets;

/// <summary>
/// Every net in nets/ parses, builds in both phases once its layer types exist, and the small ones
/// run forward and backward with a finite loss; every solver there names a net that exists.
/// </summary>
[TestFixture]
public class ShippedNetsTests
{
    private const string FashionMnist = "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz";

    // Nets cheap enough to run a forward/backward pass in the test suite.
    private static readonly HashSet<string> Small =
    [
        "lenet/lenet_train_test.prototxt", "cifar10_quick/cifar10_quick_train_test.prototxt",
        "mnist_autoencoder/mnist_autoencoder.prototxt", "unet/unet_train_test.prototxt", "lstm/lstm_rows_train_test.prototxt",
    ];

    [OneTimeSetUp]
    public void Quiet() => Log.Quiet = true;

    private static string NetsDir => Path.Combine(TestData.RepoRoot, "nets");

    public static IEnumerable<string> NetFiles() =>
        Directory.GetFiles(Path.Combine(TestData.RepoRoot, "nets"), "*.prototxt", SearchOption.AllDirectories)
            .Where(f => !Path.GetFileName(f).Contains("solver"))
            .Select(f => Path.GetRelativePath(Path.Combine(TestData.RepoRoot, "nets"), f).Replace('\\', '/'))
            .Order();

    public static IEnumerable<string> SolverFiles() =>
        Directory.GetFiles(Path.Combine(TestData.RepoRoot, "nets"), "*solver*.prototxt", SearchOption.AllDirectories)
            .Select(f => Path.GetRelativePath(Path.Combine(TestData.RepoRoot, "nets"), f).Replace('\\', '/'))
            .Order();

    [TestCaseSource(nameof(NetFiles))]
    public void BuildsAndSmallOnesRun(string relative)
    {
        var path = Path.Combine(NetsDir, relative);
        var param = Engine.Text.NetFiles.ReadNet(path);
        var missing = param.Layer.Select(l => l.Type).Where(t => !LayerRegistry.IsRegistered(t)).Distinct().ToList();
        if (missing.Count > 0) Assert.Ignore($"layer types not built yet: {string.Join(", ", missing)}");
        if (File.ReadAllText(path).Contains("/usr/share/datasets/fashion-mnist") && !File.Exists(FashionMnist))
            Assert.Ignore("Fashion-MNIST is not installed");
        foreach (var phase in new[] { Phase.Train, Phase.Test })
        {
            var state = new NetState { Phase = phase };
            // The autoencoder's test data layers are chosen by stage, as its solver does.
            if (phase == Phase.Test && relative.Contains("autoencoder")) state.Stage.Add("test-on-test");
            var net = new Net(param, state, quiet: true, source: path);
            Assert.That(net.Outputs, Is.Not.Empty);
            if (!Small.Contains(relative)) continue;
            float loss = net.ForwardBackward();
            Assert.That(float.IsFinite(loss), $"{phase} loss {loss}");
        }
    }

    [TestCaseSource(nameof(SolverFiles))]
    public void SolverNamesAnExistingNet(string relative)
    {
        var solver = Engine.Text.NetFiles.ReadSolver(Path.Combine(NetsDir, relative));
        Assert.That(File.Exists(Path.Combine(TestData.RepoRoot, solver.Net)), $"net \"{solver.Net}\" (relative to the repository root)");
        Assert.That(SolverFactory.Known, Does.Contain(solver.Type));
        Assert.That(solver.SolverMode, Is.EqualTo(SolverParameter.Types.SolverMode.Cpu));
    }
}
