using Engine.Core;
using Engine.Solvers;
using Engine.Tests.Support;
using NUnit.Framework;

namespace Engine.Tests.Solvers;

/// <summary>
/// Each solver trained on a device against the same solver on the host (the oracle): the same
/// net and seed, a few iterations, then every weight and history value must agree to 1e-4
/// relative, with L2 and L1 decay, gradient clipping and iter_size. On a device the update runs
/// there (the fused rules of solver.cl, or CpuBackend's), and the weights stay on the device
/// between iterations.
/// </summary>
[TestFixtureSource(typeof(DeviceLayerCheck), nameof(DeviceLayerCheck.BackendNames))]
public class DeviceSolverTests(string backend)
{
    [OneTimeSetUp]
    public void Quiet() => Log.Quiet = true;

    [TestCase("SGD")]
    [TestCase("Nesterov")]
    [TestCase("AdaGrad")]
    [TestCase("RMSProp")]
    [TestCase("AdaDelta")]
    [TestCase("Adam")]
    public void RuleMatchesTheHost(string type) => Compare(type, _ => { });

    [Test]
    public void L1DecayMatchesTheHost() => Compare("SGD", p => { p.RegularizationType = "L1"; p.WeightDecay = 0.05f; });

    [Test]
    public void ClippingAndIterSizeMatchTheHost() => Compare("Nesterov", p => { p.ClipGradients = 0.05f; p.IterSize = 2; });

    private void Compare(string type, Action<Proto.SolverParameter> tweak)
    {
        using var host = UpdateRuleTests.Make(type, tweak: tweak);
        using var device = UpdateRuleTests.Make(type, tweak: tweak);
        var b = DeviceLayerCheck.Backend(backend);
        device.UseBackend(b);
        host.Step(4);
        device.Step(4);
        var hp = host.TrainNet.LearnableParams;
        var dp = device.TrainNet.LearnableParams;
        for (int i = 0; i < hp.Count; i++)
        {
            Assert.That(dp[i].Blob.DataMemory.Head, Is.Not.EqualTo(MemoryHead.AtHost), $"param {i} was updated on the host");
            DeviceLayerCheck.AssertClose(dp[i].Blob.ConstData, hp[i].Blob.Data, 1e-4f, $"{type} on {b.Name}: param {i}");
        }
        // The history a snapshot would write agrees too.
        Assert.That(device.HistoryBlobs.Count, Is.EqualTo(host.HistoryBlobs.Count));
        for (int i = 0; i < host.HistoryBlobs.Count; i++)
            DeviceLayerCheck.AssertClose(device.HistoryBlobs[i].ConstData, host.HistoryBlobs[i].Data, 1e-4f, $"{type} on {b.Name}: history {i}");
        device.UseBackend(null);
    }
}
