using Engine.Core;
using Engine.Proto;
using Engine.Tests.Support;
using NUnit.Framework;

namespace Engine.Tests.Layers.Normalization;

/// <summary>
/// BatchNorm, Scale, Bias and MVN: device code against host code (<see cref="DeviceLayerCheck"/>).
/// Shapes are chosen so both reduction kernels run: channels of fewer than 64 values (one
/// work-item per channel) and of more (one work-group per channel).
/// </summary>
[TestFixtureSource(typeof(DeviceLayerCheck), nameof(DeviceLayerCheck.BackendNames))]
public class NormDeviceTests(string backend)
{
    private static FillerParameter Uniform() => new() { Type = "uniform", Min = -1.5f, Max = 1.5f };

    // ---- BatchNorm -------------------------------------------------------------------------

    private static LayerParameter BatchNorm(bool? useGlobal = null, float? fraction = null, float? eps = null)
    {
        var p = new BatchNormParameter();
        if (useGlobal is { } g) p.UseGlobalStats = g;
        if (fraction is { } f) p.MovingAverageFraction = f;
        if (eps is { } e) p.Eps = e;
        return new LayerParameter { Name = "bn", Type = "BatchNorm", BatchNormParam = p };
    }

    /// <summary>Runs the check, then compares the two copies' statistics blobs (which
    /// DeviceLayerCheck skips: they are not learned); <paramref name="stored"/> gives both copies
    /// the same non-trivial stored statistics first.</summary>
    private void CheckBatchNorm(LayerParameter p, int[] shape, Phase phase, bool stored, bool inPlace = false)
    {
        var copies = new List<Layer>();
        void AfterSetUp(Layer layer)
        {
            copies.Add(layer);
            if (!stored) return;
            var rng = new Rng(99);
            DeviceLayerCheck.Uniform(rng, (int)layer.Blobs[0].Count, -2, 2).CopyTo(layer.Blobs[0].Data);
            DeviceLayerCheck.Uniform(rng, (int)layer.Blobs[1].Count, 0.5f, 3).CopyTo(layer.Blobs[1].Data);
            layer.Blobs[2].Data[0] = 2.5f;
        }
        DeviceLayerCheck.Compare(backend, p, [shape], new() { Phase = phase, AfterSetUp = AfterSetUp, InPlace = inPlace, Range = (-2, 3) });
        Assert.That(copies, Has.Count.EqualTo(2));
        for (int i = 0; i < 3; i++)
            DeviceLayerCheck.AssertClose(copies[1].Blobs[i].ConstData, copies[0].Blobs[i].ConstData, 1e-4f, $"BatchNorm statistics blob {i}");
    }

    [TestCase(new[] { 2, 3, 4, 5 })]
    [TestCase(new[] { 4, 3, 9, 9 })]
    [TestCase(new[] { 6, 4 })]
    [TestCase(new[] { 100, 3 })]
    [TestCase(new[] { 7 })]
    public void BatchNormTrain(int[] shape) => CheckBatchNorm(BatchNorm(), shape, Phase.Train, stored: false);

    [TestCase(new[] { 2, 3, 4, 5 })]
    [TestCase(new[] { 6, 4 })]
    public void BatchNormTrainFromStoredStatistics(int[] shape) =>
        CheckBatchNorm(BatchNorm(fraction: 0.9f, eps: 1e-3f), shape, Phase.Train, stored: true);

    [Test]
    public void BatchNormTrainInPlace() => CheckBatchNorm(BatchNorm(), [2, 3, 9, 9], Phase.Train, stored: false, inPlace: true);

    [TestCase(new[] { 2, 3, 4, 5 })]
    [TestCase(new[] { 6, 4 })]
    public void BatchNormTestPhase(int[] shape) => CheckBatchNorm(BatchNorm(), shape, Phase.Test, stored: true);

    [TestCase(new[] { 2, 3, 4, 5 }, true)]
    [TestCase(new[] { 6, 4 }, false)]
    public void BatchNormUseGlobalStatsInTrain(int[] shape, bool inPlace) =>
        CheckBatchNorm(BatchNorm(useGlobal: true, eps: 1e-2f), shape, Phase.Train, stored: true, inPlace);

    [Test]
    public void BatchNormBatchStatisticsInTestPhase() => CheckBatchNorm(BatchNorm(useGlobal: false), [2, 3, 4, 5], Phase.Test, stored: true);

    [Test]
    public void BatchNormZeroScaleFactorWithGlobalStats() => CheckBatchNorm(BatchNorm(), [2, 3, 4, 5], Phase.Test, stored: false);

    // ---- Scale -----------------------------------------------------------------------------

    private static LayerParameter Scale(int axis = 1, int numAxes = 1, bool bias = false) => new()
    {
        Name = "scale",
        Type = "Scale",
        ScaleParam = new ScaleParameter { Axis = axis, NumAxes = numAxes, BiasTerm = bias, Filler = Uniform(), BiasFiller = Uniform() },
    };

    [TestCase(1, 1, false)]
    [TestCase(1, 1, true)]
    [TestCase(0, 1, false)]
    [TestCase(0, -1, true)]
    [TestCase(1, -1, false)]
    [TestCase(1, 0, true)]
    [TestCase(0, 0, false)]
    [TestCase(2, 2, true)]
    [TestCase(-1, 1, false)]
    public void ScaleLearned(int axis, int numAxes, bool bias) =>
        DeviceLayerCheck.Compare(backend, Scale(axis, numAxes, bias), [[2, 3, 4, 5]]);

    [TestCase(false)]
    [TestCase(true)]
    public void ScaleLearnedInPlace(bool bias) =>
        DeviceLayerCheck.Compare(backend, Scale(1, 1, bias), [[2, 3, 11, 7]], new() { InPlace = true });

    [Test]
    public void ScaleLearnedManyValuesPerChannel() => DeviceLayerCheck.Compare(backend, Scale(1, 1, true), [[4, 3, 9, 9]]);

    [TestCase(1, new[] { 3 }, false)]
    [TestCase(1, new[] { 3 }, true)]
    [TestCase(0, new[] { 2, 3 }, false)]
    [TestCase(1, new[] { 3, 4 }, true)]
    [TestCase(0, new[] { 2, 3, 4, 5 }, false)]
    [TestCase(2, new[] { 4, 5 }, false)]
    public void ScaleSecondBottom(int axis, int[] scaleShape, bool bias) =>
        DeviceLayerCheck.Compare(backend, Scale(axis, 1, bias), [[2, 3, 4, 5], scaleShape]);

    [TestCase(true, false)]
    [TestCase(false, true)]
    public void ScaleSecondBottomPropagateDown(bool toData, bool toScale) =>
        DeviceLayerCheck.Compare(backend, Scale(1, 1, true), [[2, 3, 4, 5], [3]], new() { PropagateDown = [toData, toScale] });

    [Test]
    public void ScaleSecondBottomInPlace() =>
        DeviceLayerCheck.Compare(backend, Scale(1, 1, false), [[2, 3, 4, 5], [3, 4]], new() { InPlace = true });

    [Test]
    public void ScaleTwoDimensional() => DeviceLayerCheck.Compare(backend, Scale(1, 1, true), [[70, 5]]);

    // ---- Bias ------------------------------------------------------------------------------

    private static LayerParameter Bias(int axis = 1, int numAxes = 1) => new()
    {
        Name = "bias",
        Type = "Bias",
        BiasParam = new BiasParameter { Axis = axis, NumAxes = numAxes, Filler = Uniform() },
    };

    [TestCase(1, 1)]
    [TestCase(0, 1)]
    [TestCase(0, -1)]
    [TestCase(1, -1)]
    [TestCase(1, 0)]
    [TestCase(2, 2)]
    public void BiasLearned(int axis, int numAxes) => DeviceLayerCheck.Compare(backend, Bias(axis, numAxes), [[2, 3, 4, 5]]);

    [Test]
    public void BiasLearnedInPlace() => DeviceLayerCheck.Compare(backend, Bias(), [[4, 3, 9, 9]], new() { InPlace = true });

    [TestCase(1, new[] { 3 })]
    [TestCase(0, new[] { 2, 3 })]
    [TestCase(1, new[] { 3, 4, 5 })]
    public void BiasSecondBottom(int axis, int[] biasShape) =>
        DeviceLayerCheck.Compare(backend, Bias(axis), [[2, 3, 4, 5], biasShape]);

    [TestCase(true, false)]
    [TestCase(false, true)]
    public void BiasSecondBottomPropagateDown(bool toData, bool toBias) =>
        DeviceLayerCheck.Compare(backend, Bias(), [[2, 3, 4, 5], [3]], new() { PropagateDown = [toData, toBias] });

    [Test]
    public void BiasSecondBottomInPlace() =>
        DeviceLayerCheck.Compare(backend, Bias(), [[2, 3, 4, 5], [3]], new() { InPlace = true });

    // ---- MVN -------------------------------------------------------------------------------

    private static LayerParameter MvnLayer(bool variance, bool across, float? eps = null)
    {
        var p = new MVNParameter { NormalizeVariance = variance, AcrossChannels = across };
        if (eps is { } e) p.Eps = e;
        return new LayerParameter { Name = "mvn", Type = "MVN", MvnParam = p };
    }

    [TestCase(true, false)]
    [TestCase(true, true)]
    [TestCase(false, false)]
    [TestCase(false, true)]
    public void Mvn(bool variance, bool across) =>
        DeviceLayerCheck.Compare(backend, MvnLayer(variance, across), [[2, 3, 5, 7]], new() { Range = (-2, 3) });

    [TestCase(true)]
    [TestCase(false)]
    public void MvnInPlace(bool variance) =>
        DeviceLayerCheck.Compare(backend, MvnLayer(variance, false), [[2, 3, 9, 9]], new() { InPlace = true });

    [TestCase(true, false)]
    [TestCase(false, true)]
    public void MvnTwoDimensional(bool variance, bool across) =>
        DeviceLayerCheck.Compare(backend, MvnLayer(variance, across, 1e-3f), [[4, 70]]);
}
