using Engine.Backends;
using Engine.Core;
using Engine.Proto;
using Engine.Tests.OpenCL;
using NUnit.Framework;

namespace Engine.Tests.Support;

/// <summary>
/// The device-versus-CPU check every layer with device code gets: the same layer is built twice
/// from one LayerParameter (same filler seeds, so the same weights), one runs its host code
/// (<see cref="Layer.Forward"/>, the oracle) and the other its device code
/// (<see cref="Layer.ForwardOn"/>) on a backend; tops, bottom gradients and parameter gradients
/// must agree to <see cref="Options.Tolerance"/> relative. Two rounds are run, parameter
/// gradients start from random values (backward adds to them), and every result must have been
/// written on the device (its memory's head is not the host), so a layer that quietly computes
/// on the host fails.
/// </summary>
public static class DeviceLayerCheck
{
    /// <summary>The backends a device test runs on: "cpu" (CpuBackend, always) and "opencl" (the first device; ignored without one).</summary>
    public static readonly string[] BackendNames = ["cpu", "opencl"];

    private static readonly CpuBackend Cpu = new();

    public static IBackend Backend(string name) => name switch
    {
        "cpu" => Cpu,
        "opencl" => OpenCLTestDevice.Backend,
        _ => throw new ArgumentException(name),
    };

    public sealed class Options
    {
        /// <summary>Values for bottom i (index, count → values); default uniform in <see cref="Range"/>.</summary>
        public Func<int, int, float[]>? Input { get; init; }

        /// <summary>Range of the default uniform inputs.</summary>
        public (float Lo, float Hi) Range { get; init; } = (-1, 1);

        /// <summary>Which bottoms get gradients; default all.</summary>
        public bool[]? PropagateDown { get; init; }

        /// <summary>Number of tops (default 1).</summary>
        public int Tops { get; init; } = 1;

        /// <summary>Top 0 is bottom 0 (in place).</summary>
        public bool InPlace { get; init; }

        /// <summary>|device − host| ≤ Tolerance · max(|host|, 0.01·max|host over the array|, 1e-6).</summary>
        public float Tolerance { get; init; } = 1e-4f;

        /// <summary>Skip backward (layers with no gradient).</summary>
        public bool ForwardOnly { get; init; }

        /// <summary>Phase of the layer (default Train).</summary>
        public Phase? Phase { get; init; }

        /// <summary>Called on each copy of the layer after set-up (e.g. to fix a mask).</summary>
        public Action<Layer>? AfterSetUp { get; init; }
    }

    public static void Compare(string backendName, LayerParameter param, int[][] bottomShapes, Options? options = null)
    {
        var backend = Backend(backendName);
        options ??= new Options();
        var p = param.Clone();
        if (options.Phase is { } phase) p.Phase = phase;
        else if (!p.HasPhase) p.Phase = Phase.Train;

        var (hostLayer, hostBottom, hostTop) = Build(p, bottomShapes, options);
        var (devLayer, devBottom, devTop) = Build(p, bottomShapes, options);
        Assert.That(devLayer.RunsOnDevice, Is.True, $"{p.Type} \"{p.Name}\" does not run on a device as configured");

        var propagate = options.PropagateDown ?? Enumerable.Repeat(true, bottomShapes.Length).ToArray();
        var rng = new Rng(4242);
        for (int round = 0; round < 2; round++)
        {
            string where = $"{p.Type} \"{p.Name}\" on {backend.Name}, round {round + 1}";
            // Fresh inputs each round (in place, forward overwrote them).
            for (int b = 0; b < bottomShapes.Length; b++)
            {
                var values = options.Input?.Invoke(b, (int)hostBottom[b].Count) ?? Uniform(rng, (int)hostBottom[b].Count, options.Range.Lo, options.Range.Hi);
                values.CopyTo(hostBottom[b].Data);
                values.CopyTo(devBottom[b].Data);
            }
            hostLayer.Forward(hostBottom, hostTop);
            devLayer.ForwardOn(backend, devBottom, devTop);
            for (int t = 0; t < hostTop.Length; t++)
            {
                Assert.That(devTop[t].DataMemory.Head, Is.Not.EqualTo(MemoryHead.AtHost), $"{where}: top {t} was written on the host");
                AssertClose(devTop[t].ConstData, hostTop[t].Data, options.Tolerance, $"{where}: top {t} data");
            }
            if (options.ForwardOnly) continue;

            for (int t = 0; t < hostTop.Length; t++)
            {
                var dy = Uniform(rng, (int)hostTop[t].Count);
                dy.CopyTo(hostTop[t].Diff);
                dy.CopyTo(devTop[t].Diff);
            }
            for (int i = 0; i < hostLayer.Blobs.Count; i++)
            {
                var start = Uniform(rng, (int)hostLayer.Blobs[i].Count);
                start.CopyTo(hostLayer.Blobs[i].Diff);
                start.CopyTo(devLayer.Blobs[i].Diff);
            }
            hostLayer.Backward(hostTop, propagate, hostBottom);
            devLayer.BackwardOn(backend, devTop, propagate, devBottom);
            for (int b = 0; b < hostBottom.Length; b++)
            {
                if (!propagate[b]) continue;
                Assert.That(devBottom[b].DiffMemory.Head, Is.Not.EqualTo(MemoryHead.AtHost), $"{where}: bottom {b} gradient was written on the host");
                AssertClose(devBottom[b].ConstDiff, hostBottom[b].Diff, options.Tolerance, $"{where}: bottom {b} gradient");
            }
            for (int i = 0; i < hostLayer.Blobs.Count; i++)
            {
                // Statistics (BatchNorm's running sums) change in forward; weights must be untouched.
                AssertClose(devLayer.Blobs[i].ConstData, hostLayer.Blobs[i].Data, options.Tolerance, $"{where}: param {i} data");
                if (!hostLayer.ParamPropagateDown[i]) continue;
                Assert.That(devLayer.Blobs[i].DiffMemory.Head, Is.Not.EqualTo(MemoryHead.AtHost), $"{where}: param {i} gradient was written on the host");
                AssertClose(devLayer.Blobs[i].ConstDiff, hostLayer.Blobs[i].Diff, options.Tolerance, $"{where}: param {i} gradient");
            }
        }
    }

    private static (Layer layer, Blob[] bottom, Blob[] top) Build(LayerParameter p, int[][] shapes, Options options)
    {
        var layer = LayerRegistry.Create(p);
        var bottom = shapes.Select((s, i) => new Blob($"b{i}", s)).ToArray();
        var top = Enumerable.Range(0, options.Tops).Select(i => options.InPlace && i == 0 ? bottom[0] : new Blob($"t{i}")).ToArray();
        // Set-up may read the bottoms (e.g. their ranges); give them the first round's shape of values.
        layer.SetUp(bottom, top);
        if (layer.ParamPropagateDown.Length != layer.Blobs.Count)
            layer.ParamPropagateDown = Enumerable.Repeat(true, layer.Blobs.Count).ToArray();
        options.AfterSetUp?.Invoke(layer);
        return (layer, bottom, top);
    }

    public static float[] Uniform(Rng rng, int count, float lo = -1, float hi = 1)
    {
        var v = new float[count];
        for (int i = 0; i < count; i++) v[i] = lo + (hi - lo) * rng.NextFloat();
        return v;
    }

    public static void AssertClose(ReadOnlySpan<float> actual, ReadOnlySpan<float> expected, float tolerance, string what)
    {
        Assert.That(actual.Length, Is.EqualTo(expected.Length), $"{what}: length");
        float max = 0;
        foreach (var e in expected) if (float.IsFinite(e)) max = MathF.Max(max, MathF.Abs(e));
        for (int i = 0; i < expected.Length; i++)
        {
            float e = expected[i], a = actual[i];
            if (a == e || (float.IsNaN(e) && float.IsNaN(a))) continue; // equal infinities too
            float scale = MathF.Max(MathF.Max(MathF.Abs(e), 0.01f * max), 1e-6f);
            if (!(MathF.Abs(a - e) <= tolerance * scale))
                Assert.Fail($"{what}: element {i}: device {a}, host {e} (tolerance {tolerance} × {scale})");
        }
    }
}
