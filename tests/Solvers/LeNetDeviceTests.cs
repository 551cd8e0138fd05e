using Engine.Core;
using Engine.Solvers;
using Engine.Tests.Support;
using Engine.Text;
using NUnit.Framework;

namespace Engine.Tests.Solvers;

/// <summary>
/// The shipped nets/lenet trained on the OpenCL device (PoCL in CI) for a short run learns as the
/// CPU does: from the same seed, the same data and the same number of iterations, the test
/// accuracy is well past chance and within two points of the CPU's (the device sums in another
/// order, so the runs drift apart by rounding, not by learning).
/// </summary>
[TestFixture]
public class LeNetDeviceTests
{
    private static Solver Make()
    {
        var param = NetFiles.ReadSolver(Path.Combine(TestData.RepoRoot, "nets/lenet/lenet_solver.prototxt"));
        param.Net = Path.Combine(TestData.RepoRoot, param.Net);
        param.MaxIter = 200;
        param.Snapshot = 0;
        param.SnapshotAfterTrain = false;
        param.TestInterval = 1_000_000;
        param.TestInitialization = false;
        param.TestIter[0] = 20;
        param.RandomSeed = 1;
        return SolverFactory.Create(param, quiet: true);
    }

    [Test]
    public void TwoHundredIterationsOnOpenCLLearnAsOnTheCpu()
    {
        if (!File.Exists("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"))
            Assert.Ignore("Fashion-MNIST is not installed (Debian package dataset-fashion-mnist)");
        var backend = DeviceLayerCheck.Backend("opencl");
        Log.Quiet = true;
        using var cpu = Make();
        cpu.Step(200);
        float cpuAccuracy = cpu.Test(0).Single(r => r.name == "accuracy").value;

        using var device = Make();
        device.UseBackend(backend);
        var (onDevice, onHost) = device.TrainNet.DevicePlacement();
        Assert.That(onHost.Select(l => l.Type), Is.EqualTo(new[] { "Data" }), "every layer but the data source runs on the device");
        device.Step(200);
        float deviceAccuracy = device.Test(0).Single(r => r.name == "accuracy").value;
        device.UseBackend(null);

        Assert.That(deviceAccuracy, Is.GreaterThan(0.6f), "test accuracy after 200 iterations on OpenCL");
        Assert.That(deviceAccuracy, Is.EqualTo(cpuAccuracy).Within(0.02f), "the CPU's accuracy from the same start");
    }
}
