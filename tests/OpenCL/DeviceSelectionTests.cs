using Engine.OpenCL;
using Engine.Proto;
using Engine.Tests.Support;
using NUnit.Framework;

namespace Engine.Tests.OpenCL;

/// <summary>Caffe's device selection (`--gpu N`, `-gpu all`, `solver_mode: GPU` + `device_id`) and `engine device-query`.</summary>
[TestFixture]
[NonParallelizable]
public class DeviceSelectionTests
{
    private static OpenCLDeviceInfo Fake(int index, string name) =>
        new(index, name, "Vendor", index == 0 ? "Platform A" : "Platform B", "OpenCL 3.0", "1.0", "OpenCL 3.0", "GPU",
            8, 1L << 30, 64 << 10, 1L << 28, true, 256, "OpenCL C 1.2");

    private static readonly OpenCLDeviceInfo[] Two = [Fake(0, "first"), Fake(1, "second")];

    [Test]
    public void GpuNPicksTheNthDeviceOverAllPlatforms()
    {
        var s = DeviceSelection.FromFlag("1", Two, null);
        Assert.That(s.Device.Name, Is.EqualTo("second"));
        Assert.That(s.Note, Is.Null);
        Assert.That(s.Describe(), Is.EqualTo("--gpu 1 (Platform B: second)"));
    }

    [Test]
    public void GpuAllAndListsTakeTheFirstAndSaySo()
    {
        var all = DeviceSelection.FromFlag("all", Two, null);
        Assert.That(all.Device.Name, Is.EqualTo("first"));
        Assert.That(all.Note, Does.Contain("using device 0 of 2"));
        var list = DeviceSelection.FromFlag("1,0", Two, null);
        Assert.That(list.Device.Name, Is.EqualTo("second"));
        Assert.That(list.Note, Does.Contain("using device 1 only"));
    }

    [Test]
    public void AMissingDeviceNamesWhatWasAskedAndWhatExists()
    {
        var e = Assert.Throws<EngineException>(() => DeviceSelection.FromFlag("2", Two, null))!;
        Assert.That(e.Message, Is.EqualTo("--gpu 2: there is no OpenCL device 2; this machine has 2: 0 = Platform A: first; 1 = Platform B: second"));
        e = Assert.Throws<EngineException>(() => DeviceSelection.FromFlag("0", [], "the ICD loader lists no OpenCL platform"))!;
        Assert.That(e.Message, Is.EqualTo("--gpu 0: no OpenCL device found (the ICD loader lists no OpenCL platform)"));
        foreach (var bad in new[] { "x", "-1", "", "1.5" })
            Assert.That(() => DeviceSelection.FromFlag(bad, Two, null),
                Throws.TypeOf<EngineException>().With.Message.Contains("expected a device number"), bad);
    }

    [Test]
    public void SolverModeGpuUsesDeviceIdAndOnlyWarnsWhenItIsMissing()
    {
        var cpu = new SolverParameter { SolverMode = SolverParameter.Types.SolverMode.Cpu };
        Assert.That(DeviceSelection.FromSolver(cpu, Two, null, out var problem), Is.Null);
        Assert.That(problem, Is.Null);
        Assert.That(DeviceSelection.FromSolver(new SolverParameter(), Two, null, out problem), Is.Null, "the field's default (GPU) does not count");
        Assert.That(problem, Is.Null);

        var gpu = new SolverParameter { SolverMode = SolverParameter.Types.SolverMode.Gpu };
        Assert.That(DeviceSelection.FromSolver(gpu, Two, null, out problem)!.Describe(), Is.EqualTo("solver_mode: GPU (Platform A: first)"));
        gpu.DeviceId = 1;
        Assert.That(DeviceSelection.FromSolver(gpu, Two, null, out problem)!.Device.Name, Is.EqualTo("second"));
        gpu.DeviceId = 5;
        Assert.That(DeviceSelection.FromSolver(gpu, Two, null, out problem), Is.Null);
        Assert.That(problem, Does.StartWith("solver_mode: GPU, device_id: 5: there is no OpenCL device 5"));
        Assert.That(DeviceSelection.FromSolver(gpu, [], "no OpenCL library could be loaded", out problem), Is.Null);
        Assert.That(problem, Does.Contain("no OpenCL device found (no OpenCL library could be loaded)"));
    }

    [Test]
    public void DeviceQueryListsTheOpenCLDevices()
    {
        var (code, stdout, stderr) = EngineRunner.Run("device-query");
        Assert.That(code, Is.EqualTo(0), stderr);
        Assert.That(stdout, Does.Contain("GEMM kernel:"), "the CPU section comes first");
        if (OpenCLDevices.All.Count == 0)
        {
            Assert.That(stdout, Does.Contain("OpenCL: no OpenCL device found ("));
            return;
        }
        var d = OpenCLDevices.All[0];
        Assert.That(stdout, Does.Contain($"OpenCL devices: {OpenCLDevices.All.Count}"));
        Assert.That(stdout, Does.Contain("Device 0 (--gpu 0)"));
        Assert.That(stdout, Does.Contain($"  Name: {d.Name}"));
        Assert.That(stdout, Does.Contain($"  Platform: {d.Platform}"));
        Assert.That(stdout, Does.Match(@"  Compute units: [1-9]\d*"));
        Assert.That(stdout, Does.Match(@"  Max work-group size: [1-9]\d*"));
        Assert.That(stdout, Does.Contain("  OpenCL C version: OpenCL C "));
        Assert.That(stdout, Does.Match(@"  Fp64: (yes|no)"));
        if (d.Platform.Contains("Portable Computing Language"))
            Assert.That(d.Type, Is.EqualTo("CPU"), "PoCL's pthread device");
    }

    [Test]
    public void GpuWithNoSuchDeviceIsAOneLineErrorOnEveryCommand()
    {
        int missing = OpenCLDevices.All.Count; // one past the last device
        string[][] runs =
        [
            ["train", "--solver", "s.prototxt", "-gpu", $"{missing}"],
            ["test", "--model", "m.prototxt", "--weights", "w.caffemodel", "--gpu", $"{missing}"],
            ["time", "--model", "m.prototxt", $"--gpu={missing}"],
            ["forward", "--model", "m.prototxt", "--input", "data=x.npy", "--output", "out", "-gpu", $"{missing}"],
            ["device-query", "-gpu", $"{missing}"],
        ];
        foreach (var run in runs)
        {
            var (code, stdout, stderr) = EngineRunner.Run(run);
            Assert.That(code, Is.EqualTo(1), run[0]);
            Assert.That(stderr.Trim(), Does.StartWith($"error: --gpu {missing}: "), run[0]);
            Assert.That(stderr.Trim().Split('\n'), Has.Length.EqualTo(1), run[0]);
            Assert.That(stdout, Does.Not.Contain("GEMM kernel"), "nothing printed before the error");
        }
    }

    [Test]
    public void TimeOnTheDeviceNamesItAndSaysWhereEachLayerRuns()
    {
        var device = OpenCLTestDevice.Device;
        var dir = Path.Combine(Path.GetTempPath(), "engine-gpu-time-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        try
        {
            var model = Path.Combine(dir, "net.prototxt");
            File.WriteAllText(model, """
                name: "tiny"
                layer { name: "data" type: "DummyData" top: "x" top: "label"
                  dummy_data_param { shape { dim: 4 dim: 6 } shape { dim: 4 }
                    data_filler { type: "gaussian" } data_filler { type: "constant" value: 1 } } }
                layer { name: "relu" type: "ReLU" bottom: "x" top: "y" }
                layer { name: "loss" type: "SoftmaxWithLoss" bottom: "y" bottom: "label" top: "loss" }
                """);
            var (code, stdout, stderr) = EngineRunner.Run("time", "--model", model, "-gpu", "0", "--iterations", "2");
            Assert.That(code, Is.EqualTo(0), stderr);
            Assert.That(stdout, Does.Contain($"Using --gpu 0 ({device.Platform}: {device.Name})"));
            Assert.That(stdout, Does.Match(@"Net ""tiny"" \(Train\): \d+ of 3 layers on OpenCL: "));
            Assert.That(stdout, Does.Contain("relu\tforward:"));
            Assert.That(stdout, Does.Contain("Average Forward-Backward:"));
        }
        finally { Directory.Delete(dir, recursive: true); }
    }
}
