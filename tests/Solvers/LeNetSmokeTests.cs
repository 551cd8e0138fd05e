using Engine.Core;
using Engine.Solvers;
using Engine.Tests.Support;
using Engine.Text;
using NUnit.Framework;

namespace Engine.Tests.Solvers;

/// <summary>
/// A short training run of the shipped nets/lenet on real Fashion-MNIST: the loss falls and test
/// accuracy climbs well past chance (Caffe reaches about 0.82 at iteration 500).
/// </summary>
[TestFixture]
public class LeNetSmokeTests
{
    [Test]
    public void ThreeHundredIterationsLearnFashionMnist()
    {
        if (!File.Exists("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"))
            Assert.Ignore("Fashion-MNIST is not installed (Debian package dataset-fashion-mnist)");
        Log.Quiet = true;
        var param = NetFiles.ReadSolver(Path.Combine(TestData.RepoRoot, "nets/lenet/lenet_solver.prototxt"));
        param.Net = Path.Combine(TestData.RepoRoot, param.Net);
        param.MaxIter = 300;
        param.Snapshot = 0;
        param.SnapshotAfterTrain = false;
        param.TestInterval = 1_000_000;
        param.TestInitialization = false;
        param.TestIter[0] = 20;
        param.RandomSeed = 1;
        var solver = SolverFactory.Create(param, quiet: true);

        solver.Step(20);
        float early = solver.TrainNet.Outputs.Single(b => b.Name == "loss").Data[0];
        solver.Step(280);
        var results = solver.Test(0).ToDictionary(r => r.name, r => r.value);
        Assert.That(results["accuracy"], Is.GreaterThan(0.65f), "test accuracy after 300 iterations");
        Assert.That(results["loss"], Is.LessThan(early), "test loss below the training loss at iteration 20");
    }
}
