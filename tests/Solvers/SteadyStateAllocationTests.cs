using Engine.Proto;
using Engine.Solvers;
using Engine.Tests.Support;
using Engine.Text;
using NUnit.Framework;

namespace Engine.Tests.Solvers;

/// <summary>
/// Once training runs, an iteration allocates nothing: buffers, workspaces and the worker pool's
/// jobs are reused. Measured with the GC's count of bytes allocated on the training thread (the
/// thread that runs the layers, the solver's update and the worker pool's share of each loop)
/// over iterations that neither display, test nor snapshot (those print and write files).
/// </summary>
[TestFixture]
[NonParallelizable] // the worker pool and the allocation counter are per process / per thread
public class SteadyStateAllocationTests
{
    private static SolverParameter Solver(string netFile, string type)
    {
        var net = NetFiles.ReadNet(Path.Combine(TestData.RepoRoot, netFile));
        return new SolverParameter
        {
            NetParam = net,
            Type = type,
            BaseLr = 0.001f,
            Momentum = type is "SGD" or "Nesterov" ? 0.9f : 0f,
            Momentum2 = 0.999f,
            Delta = 1e-8f,
            WeightDecay = 5e-4f,
            LrPolicy = "inv",
            Gamma = 1e-4f,
            Power = 0.75f,
            Display = 0,
            TestInterval = 1_000_000,
            TestInitialization = false,
            MaxIter = 1_000_000,
            SnapshotAfterTrain = false,
            RandomSeed = 1,
            SolverMode = SolverParameter.Types.SolverMode.Cpu,
        };
    }

    private static long Allocated(Action action)
    {
        long before = GC.GetAllocatedBytesForCurrentThread();
        action();
        return GC.GetAllocatedBytesForCurrentThread() - before;
    }

    [TestCase("nets/cifar10_quick/cifar10_quick_train_test.prototxt", "SGD")]
    [TestCase("nets/cifar10_quick/cifar10_quick_train_test.prototxt", "Adam")]
    [TestCase("nets/lenet/lenet_train_test.prototxt", "SGD")]
    [TestCase("nets/unet/unet_train_test.prototxt", "Nesterov")]
    public void TrainingIterationsAllocateNothing(string netFile, string type)
    {
        if ((netFile.Contains("lenet") || netFile.Contains("unet")) && !File.Exists("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"))
            Assert.Ignore("Fashion-MNIST is not installed (Debian package dataset-fashion-mnist)");
        var solver = SolverFactory.Create(Solver(netFile, type), quiet: true);
        solver.Step(10); // set-up, first-touch buffers, JIT (and most tier-ups: tests run tiered)
        // A call to Step makes its timer and progress line once; the iterations inside it must
        // add nothing, so 2 and 7 iterations allocate the same. Each is the least of a few calls,
        // taken alternately: a one-time allocation the runtime makes lazily (the first time a wait
        // really blocks on a loaded machine, a late tier-up) lands in one call only, where an
        // allocation per iteration is in all.
        var fewCalls = new List<long>();
        var moreCalls = new List<long>();
        for (int round = 0; round < 4; round++)
        {
            fewCalls.Add(Allocated(() => solver.Step(2)));
            moreCalls.Add(Allocated(() => solver.Step(7)));
        }
        long few = fewCalls.Min(), more = moreCalls.Min();
        Assert.That(more - few, Is.EqualTo(0),
            $"{netFile} ({type}): bytes allocated by 5 more training iterations (calls of 2: {string.Join(", ", fewCalls)}; of 7: {string.Join(", ", moreCalls)})");
        Assert.That(few, Is.LessThan(4096), $"{netFile} ({type}): bytes allocated by one call of Step");
    }
}
