using Engine.Backends;
using Engine.Core;
using Engine.Solvers;
using Engine.Tests.Support;
using Engine.Text;
using NUnit.Framework;

namespace Engine.Tests.OpenCL;

/// <summary>
/// Data uploads through the transfer queue (<see cref="OpenCLBackend.OverlapUploads"/>): a batch
/// uploaded while the compute queue still reads the previous one does not disturb it, and LeNet
/// trains to the same bits as with blocking uploads.
/// </summary>
[TestFixture]
[NonParallelizable]
public class TransferQueueTests
{
    /// <summary>
    /// Batch j (every value j) is uploaded into one buffer while the compute queue is still busy
    /// with slow GEMMs enqueued before, then added to a sum: every batch must be summed exactly once,
    /// none overwritten by the next before its reader ran (a race shows as a wrong sum).
    /// </summary>
    [Test]
    public void BatchesUploadedWhileTheDeviceComputesAreEachReadOnce([Values(1, 2, 3)] int round)
    {
        var backend = OpenCLTestDevice.Backend;
        Assert.That(backend.OverlapUploads, Is.True, "the default");
        const int count = 4096, batches = 60, size = 96;
        var host = new float[count];
        using var batch = backend.Allocate(count);
        using var sum = backend.Allocate(count);
        using var a = backend.Allocate(size * size);
        using var c = backend.Allocate(size * size);
        backend.Fill(sum.All, 0);
        backend.Fill(a.All, 0.01f);
        IDisposable? pending = null;
        for (int j = 1; j <= batches; j++)
        {
            pending?.Dispose();  // as BlobMemory does: the host array is rewritten only after its copy left it
            host.AsSpan().Fill(j);
            pending = backend.UploadAsync(host, 0, count, batch.All);
            backend.Axpy(1f, batch.All, sum.All);
            // Keep the compute queue busy so the next upload overtakes it.
            for (int g = 0; g < 3; g++) backend.Gemm(false, false, size, size, size, 1f, a.All, size, a.All, size, 0f, c.All, size);
        }
        pending?.Dispose();
        var got = new float[count];
        backend.Download(sum.All, got);
        float expected = batches * (batches + 1) / 2f;
        int wrong = Array.FindIndex(got, v => v != expected);
        Assert.That(wrong, Is.EqualTo(-1), $"round {round}: sum[{Math.Max(wrong, 0)}] is {got[Math.Max(wrong, 0)]}, expected {expected}");
    }

    [Test]
    public void BlockingUploadsAreTheSynchronousPath()
    {
        var backend = new OpenCLBackend(OpenCLTestDevice.Backend.Context) { OverlapUploads = false };
        using var d = backend.Allocate(5);
        var host = new float[] { 1, 2, 3, 4, 5 };
        backend.UploadAsync(host, 1, 3, d.All.Slice(2, 3)).Dispose();
        var got = new float[3];
        backend.Download(d.All.Slice(2, 3), got);
        Assert.That(got, Is.EqualTo(new float[] { 2, 3, 4 }));
    }

    /// <summary>LeNet on the device, a few iterations with overlapped uploads (twice) and with blocking
    /// uploads: the same weights to the bit, the same loss.</summary>
    [Test]
    public void LeNetTrainsToTheSameBitsWithOverlappedAndBlockingUploads()
    {
        if (!File.Exists("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"))
            Assert.Ignore("Fashion-MNIST is not installed (Debian package dataset-fashion-mnist)");
        var shared = OpenCLTestDevice.Backend;
        var blocking = new OpenCLBackend(shared.Context, shared.GemmKernel) { OverlapUploads = false };
        Log.Quiet = true;
        var reference = Train(blocking);
        for (int run = 0; run < 2; run++)
        {
            var overlapped = Train(shared);
            Assert.That(overlapped.Count, Is.EqualTo(reference.Count));
            for (int i = 0; i < reference.Count; i++)
                Assert.That(overlapped[i], Is.EqualTo(reference[i]), $"run {run}: parameter blob {i} (blob -1: the loss)");
        }
    }

    /// <summary>Ten iterations of nets/lenet from seed 1 on <paramref name="backend"/>: every learnable blob, and the loss last.</summary>
    private static List<float[]> Train(OpenCLBackend backend)
    {
        var param = NetFiles.ReadSolver(Path.Combine(TestData.RepoRoot, "nets/lenet/lenet_solver.prototxt"));
        param.Net = Path.Combine(TestData.RepoRoot, param.Net);
        param.MaxIter = 10;
        param.Snapshot = 0;
        param.SnapshotAfterTrain = false;
        param.TestInterval = 1_000_000;
        param.TestInitialization = false;
        param.RandomSeed = 1;
        using var solver = SolverFactory.Create(param, quiet: true);
        solver.UseBackend(backend);
        solver.Step(10);
        var result = solver.TrainNet.LearnableParams.Select(p => p.Blob.ConstData.ToArray()).ToList();
        result.Add([solver.TrainNet.Forward()]);
        solver.UseBackend(null);
        return result;
    }
}
