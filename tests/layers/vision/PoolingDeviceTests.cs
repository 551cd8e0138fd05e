using Engine.Core;
using Engine.Proto;
using Engine.Tests.Support;
using NUnit.Framework;
using PoolMethod = Engine.Proto.PoolingParameter.Types.PoolMethod;
using RoundMode = Engine.Proto.PoolingParameter.Types.RoundMode;
using SppMethod = Engine.Proto.SPPParameter.Types.PoolMethod;

namespace Engine.Tests.Layers.Vision;

/// <summary>
/// The device code of Pooling, LRN, Upsample, SPP and Dropout against their host code
/// (<see cref="DeviceLayerCheck"/>), on the CPU backend and the OpenCL device.
/// </summary>
[TestFixtureSource(typeof(DeviceLayerCheck), nameof(DeviceLayerCheck.BackendNames))]
public class PoolingDeviceTests(string backend)
{
    // ---- Pooling ---------------------------------------------------------------------------

    private static LayerParameter Pool(PoolMethod method, uint kh, uint kw, uint sh, uint sw, uint ph, uint pw,
        RoundMode round = RoundMode.Ceil) => new()
    {
        Name = "pool",
        Type = "Pooling",
        PoolingParam = new PoolingParameter
        {
            Pool = method,
            KernelH = kh,
            KernelW = kw,
            StrideH = sh,
            StrideW = sw,
            PadH = ph,
            PadW = pw,
            RoundMode = round,
        },
    };

    // kernel h×w, stride h×w, pad h×w, round mode, input H×W (odd sizes; ceil leaves clipped last
    // windows, padding with stride makes the padded divisor differ from the window).
    private static readonly object[] Windows =
    [
        new object[] { 2u, 2u, 2u, 2u, 0u, 0u, RoundMode.Ceil, 7, 9 },
        new object[] { 2u, 2u, 2u, 2u, 0u, 0u, RoundMode.Floor, 7, 9 },
        new object[] { 3u, 3u, 2u, 2u, 1u, 1u, RoundMode.Ceil, 7, 9 },
        new object[] { 3u, 3u, 2u, 2u, 1u, 1u, RoundMode.Floor, 8, 5 },
        new object[] { 3u, 2u, 1u, 2u, 1u, 0u, RoundMode.Ceil, 5, 7 },
        new object[] { 5u, 3u, 3u, 2u, 2u, 1u, RoundMode.Ceil, 11, 6 },
        new object[] { 3u, 3u, 1u, 1u, 0u, 0u, RoundMode.Ceil, 4, 4 },
    ];

    private static IEnumerable<object[]> MaxAndAve() =>
        Windows.Cast<object[]>().SelectMany(w => new[] { PoolMethod.Max, PoolMethod.Ave }.Select(m => w.Prepend(m).ToArray()));

    [TestCaseSource(nameof(MaxAndAve))]
    public void Pooling(PoolMethod method, uint kh, uint kw, uint sh, uint sw, uint ph, uint pw, RoundMode round, int h, int w) =>
        DeviceLayerCheck.Compare(backend, Pool(method, kh, kw, sh, sw, ph, pw, round), [[2, 3, h, w]]);

    [TestCaseSource(nameof(Windows))]
    public void MaxPoolingWithTheMaskTop(uint kh, uint kw, uint sh, uint sw, uint ph, uint pw, RoundMode round, int h, int w) =>
        DeviceLayerCheck.Compare(backend, Pool(PoolMethod.Max, kh, kw, sh, sw, ph, pw, round), [[2, 3, h, w]], new() { Tops = 2 });

    /// <summary>Inputs with many ties: the first maximum in row-major window order takes the
    /// gradient, on the device as on the host; overlapping windows send several to one cell.</summary>
    [TestCase(3u, 1u, 1u)]
    [TestCase(3u, 2u, 1u)]
    [TestCase(2u, 2u, 0u)]
    public void MaxPoolingTies(uint kernel, uint stride, uint pad)
    {
        var rng = new Rng(7);
        DeviceLayerCheck.Compare(backend, Pool(PoolMethod.Max, kernel, kernel, stride, stride, pad, pad), [[2, 2, 7, 6]], new()
        {
            Tops = 2,
            Input = (_, count) => Enumerable.Range(0, count).Select(_ => (float)rng.NextInt(3)).ToArray(),
        });
    }

    /// <summary>Windows all −∞ (a masked-out region): the first cell wins, on the device as on the
    /// host, and takes the gradient (not −FLT_MAX with no index).</summary>
    [Test]
    public void MaxPoolingOverWindowsOfMinusInfinity()
    {
        var rng = new Rng(9);
        DeviceLayerCheck.Compare(backend, Pool(PoolMethod.Max, 2, 2, 2, 2, 0, 0), [[1, 2, 6, 6]], new()
        {
            Tops = 2,
            Input = (_, count) => Enumerable.Range(0, count).Select(i => i % 36 < 18 ? float.NegativeInfinity : rng.NextFloat()).ToArray(),
        });
    }

    [TestCase(PoolMethod.Max, 1)]
    [TestCase(PoolMethod.Max, 2)]
    [TestCase(PoolMethod.Ave, 1)]
    public void GlobalPooling(PoolMethod method, int tops)
    {
        var p = new LayerParameter { Name = "global", Type = "Pooling", PoolingParam = new PoolingParameter { Pool = method, GlobalPooling = true } };
        DeviceLayerCheck.Compare(backend, p, [[3, 4, 5, 7]], new() { Tops = tops });
    }

    [Test]
    public void PoolingWithoutPropagateDownLeavesTheGradient() =>
        DeviceLayerCheck.Compare(backend, Pool(PoolMethod.Max, 3, 3, 2, 2, 1, 1), [[2, 3, 7, 7]], new() { PropagateDown = [false] });

    /// <summary>One layer reshaped larger, then smaller, between passes: its device mask grows
    /// and still matches the host's gradients.</summary>
    [Test]
    public void OneLayerThroughSeveralShapes()
    {
        var device = DeviceLayerCheck.Backend(backend);
        var p = Pool(PoolMethod.Max, 3, 3, 2, 2, 1, 1);
        p.Phase = Phase.Train;
        var host = LayerRegistry.Create(p);
        var dev = LayerRegistry.Create(p);
        Blob hx = new("x", 1, 2, 5, 5), dx = new("x", 1, 2, 5, 5), hy = new("y"), dy = new("y");
        host.SetUp([hx], [hy]);
        dev.SetUp([dx], [dy]);
        var rng = new Rng(5);
        foreach (var shape in new[] { new[] { 1, 2, 5, 5 }, [2, 3, 9, 7], [1, 1, 3, 4] })
        {
            hx.Reshape(shape);
            dx.Reshape(shape);
            host.Reshape([hx], [hy]);
            dev.Reshape([dx], [dy]);
            var x = DeviceLayerCheck.Uniform(rng, (int)hx.Count);
            x.CopyTo(hx.Data);
            x.CopyTo(dx.Data);
            host.Forward([hx], [hy]);
            dev.ForwardOn(device, [dx], [dy]);
            DeviceLayerCheck.AssertClose(dy.ConstData, hy.Data, 1e-4f, $"{string.Join("x", shape)} top");
            var g = DeviceLayerCheck.Uniform(rng, (int)hy.Count);
            g.CopyTo(hy.Diff);
            g.CopyTo(dy.Diff);
            host.Backward([hy], [true], [hx]);
            dev.BackwardOn(device, [dy], [true], [dx]);
            Assert.That(dx.DiffMemory.Head, Is.Not.EqualTo(MemoryHead.AtHost));
            DeviceLayerCheck.AssertClose(dx.ConstDiff, hx.Diff, 1e-4f, $"{string.Join("x", shape)} gradient");
        }
    }

    // ---- LRN -------------------------------------------------------------------------------

    private static LayerParameter Lrn(uint size, float alpha, float beta, float k, bool within) => new()
    {
        Name = "lrn",
        Type = "LRN",
        LrnParam = new LRNParameter
        {
            LocalSize = size,
            Alpha = alpha,
            Beta = beta,
            K = k,
            NormRegion = within ? LRNParameter.Types.NormRegion.WithinChannel : LRNParameter.Types.NormRegion.AcrossChannels,
        },
    };

    [TestCase(3u, 1f, 0.75f, 1f, false, 7)]
    [TestCase(5u, 0.3f, 0.75f, 2f, false, 7)]
    [TestCase(5u, 1.5f, 0.5f, 1f, false, 3)]
    [TestCase(1u, 1f, 0.75f, 1f, false, 4)]
    [TestCase(3u, 0.6f, 0.75f, 1f, true, 3)]
    [TestCase(5u, 1.5f, 0.75f, 1f, true, 2)]
    [TestCase(5u, 0.0001f, 0.75f, 1f, false, 6)]
    public void Lrn(uint size, float alpha, float beta, float k, bool within, int channels) =>
        DeviceLayerCheck.Compare(backend, Lrn(size, alpha, beta, k, within), [[2, channels, 5, 6]], new() { Range = (-2, 2) });

    [Test]
    public void LrnWithinChannelOnPlanesSmallerThanTheWindow() =>
        DeviceLayerCheck.Compare(backend, Lrn(5, 1f, 0.75f, 1f, true), [[1, 3, 3, 2]], new() { Range = (-2, 2) });

    // ---- Upsample --------------------------------------------------------------------------

    private static LayerParameter Upsample(uint scale) =>
        new() { Name = "up", Type = "Upsample", UpsampleParam = new UpsampleParameter { Scale = scale } };

    [TestCase(1u)]
    [TestCase(2u)]
    [TestCase(3u)]
    public void UpsampleNearest(uint scale) =>
        DeviceLayerCheck.Compare(backend, Upsample(scale), [[2, 3, 5, 4]]);

    /// <summary>Unpooling with a mask as MAX pooling gives it: one position in each value's own
    /// scale×scale block of the top.</summary>
    [TestCase(2)]
    [TestCase(3)]
    public void Unpooling(int scale)
    {
        int h = 3, w = 5;
        var rng = new Rng(11);
        DeviceLayerCheck.Compare(backend, Upsample((uint)scale), [[2, 3, h, w], [2, 3, h, w]], new()
        {
            PropagateDown = [true, false],
            Input = (b, count) => b == 0 ? DeviceLayerCheck.Uniform(rng, count) : Enumerable.Range(0, count).Select(i =>
            {
                int y = i % (h * w) / w, x = i % w;
                return (float)((y * scale + rng.NextInt(scale)) * w * scale + x * scale + rng.NextInt(scale));
            }).ToArray(),
        });
    }

    /// <summary>Mask positions anywhere in the plane, many repeated: the last value naming a
    /// position wins, as in the host's loop.</summary>
    [Test]
    public void UnpoolingWithRepeatedPositions()
    {
        var rng = new Rng(12);
        int outPlane = 4 * 6 * 4;
        DeviceLayerCheck.Compare(backend, Upsample(2), [[2, 2, 4, 6], [2, 2, 4, 6]], new()
        {
            PropagateDown = [true, false],
            Input = (b, count) => b == 0 ? DeviceLayerCheck.Uniform(rng, count)
                : Enumerable.Range(0, count).Select(_ => (float)rng.NextInt(outPlane / 8)).ToArray(),
        });
    }

    // ---- SPP -------------------------------------------------------------------------------

    [TestCase(SppMethod.Max, 3u, 9, 8)]
    [TestCase(SppMethod.Max, 1u, 5, 7)]
    [TestCase(SppMethod.Ave, 2u, 5, 6)]
    [TestCase(SppMethod.Ave, 3u, 11, 9)]
    public void Spp(SppMethod method, uint levels, int h, int w)
    {
        var p = new LayerParameter { Name = "spp", Type = "SPP", SppParam = new SPPParameter { PyramidHeight = levels, Pool = method } };
        DeviceLayerCheck.Compare(backend, p, [[2, 3, h, w]]);
    }

    // ---- Dropout ---------------------------------------------------------------------------

    /// <summary>Both copies of the layer draw their masks from the same seed, so the device's
    /// (drawn on the host, applied on the device) must equal the host's exactly.</summary>
    [TestCase(0.5f, Phase.Train, false)]
    [TestCase(0.5f, Phase.Train, true)]
    [TestCase(0.5f, Phase.Test, false)]
    [TestCase(0.5f, Phase.Test, true)]
    [TestCase(0.2f, Phase.Train, false)]
    [TestCase(0f, Phase.Train, true)]
    public void Dropout(float ratio, Phase phase, bool inPlace)
    {
        var p = new LayerParameter { Name = "drop", Type = "Dropout", DropoutParam = new DropoutParameter { DropoutRatio = ratio } };
        DeviceLayerCheck.Compare(backend, p, [[2, 3, 5, 7]], new() { Phase = phase, InPlace = inPlace, Tolerance = 0 });
    }
}
