using Engine.Core;
using Engine.Cpu;
using Engine.Proto;
using Engine.Tests.Support;
using NUnit.Framework;
using static Engine.Tests.Layers.NeuronLossTestHelpers;

namespace Engine.Tests.Layers;

/// <summary>
/// The elementwise layers split blobs of 65,536 values or more across the threads (one piece per
/// thread). On 2 × 3 × 110 × 110 values, on one and on two threads, the top and the bottom
/// gradient are checked against each layer's formula and derivative written out in double.
/// </summary>
[TestFixture]
public class NeuronPiecesTests
{
    private static readonly int[] Shape = [2, 3, 110, 110];

    private static double Sigmoid(double v) => 1 / (1 + Math.Exp(-v));

    /// <summary>type, parameters, f(x), f'(x), and the input range (inputs are uniform in it).</summary>
    private static IEnumerable<TestCaseData> Cases()
    {
        yield return Case("Sigmoid", p => { }, Sigmoid, x => Sigmoid(x) * (1 - Sigmoid(x)), -4, 4);
        yield return Case("TanH", p => { }, Math.Tanh, x => 1 - Math.Tanh(x) * Math.Tanh(x), -3, 3);
        yield return Case("Exp", p => p.ExpParam = new ExpParameter { Scale = 0.5f }, x => Math.Exp(0.5 * x), x => 0.5 * Math.Exp(0.5 * x), -2, 2);
        yield return Case("Log", p => p.LogParam = new LogParameter { Scale = 2f, Shift = 1f }, x => Math.Log(2 * x + 1), x => 2 / (2 * x + 1), 0.1, 3);
        yield return Case("ELU", p => p.EluParam = new ELUParameter { Alpha = 0.7f }, x => x > 0 ? x : 0.7 * (Math.Exp(x) - 1), x => x > 0 ? 1 : 0.7 * Math.Exp(x), -3, 3);
        yield return Case("Swish", p => p.SwishParam = new SwishParameter { Beta = 1.5f }, x => x * Sigmoid(1.5 * x),
            x => Sigmoid(1.5 * x) + 1.5 * x * Sigmoid(1.5 * x) * (1 - Sigmoid(1.5 * x)), -3, 3);
        yield return Case("BNLL", p => { }, x => Math.Log(1 + Math.Exp(x)), Sigmoid, -4, 4);
        yield return Case("Power", p => p.PowerParam = new PowerParameter { Power = 2f, Scale = 0.5f, Shift = 1f },
            x => Math.Pow(0.5 * x + 1, 2), x => (0.5 * x + 1), -2, 2);
        yield return Case("AbsVal", p => { }, Math.Abs, x => Math.Sign(x), -2, 2);
        yield return Case("Clip", p => p.ClipParam = new ClipParameter { Min = -0.5f, Max = 0.8f }, x => Math.Clamp(x, -0.5, 0.8),
            x => x >= -0.5 && x <= 0.8 ? 1 : 0, -2, 2);
        // Threshold has no gradient (as in Caffe): forward only.
        yield return Case("Threshold", p => p.ThresholdParam = new ThresholdParameter { Threshold = 0.3f }, x => x > 0.3 ? 1 : 0, null, -1, 1);
    }

    private static TestCaseData Case(string type, Action<LayerParameter> set, Func<double, double> f, Func<double, double>? df, double lo, double hi) =>
        new TestCaseData(type, set, f, df, lo, hi).SetName(type);

    [TestCaseSource(nameof(Cases))]
    public void LargeBlobsMatchTheFormulaOnOneAndTwoThreads(string type, Action<LayerParameter> set, Func<double, double> f, Func<double, double>? df, double lo, double hi)
    {
        int saved = WorkerPool.Threads;
        try
        {
            foreach (int threads in new[] { 1, 2 })
            {
                WorkerPool.Threads = threads;
                var x = TestData.Random("x", Shape, 11, (float)lo, (float)hi);
                var xs = x.Data;
                var param = Param(type, type.ToLowerInvariant());
                set(param);
                var (layer, tops) = SetUp(param, [x]);
                layer.Forward([x], tops);
                var expectedY = new float[xs.Length];
                for (int i = 0; i < xs.Length; i++) expectedY[i] = (float)f(xs[i]);
                AssertClose(tops[0].Data, expectedY, $"{type} top, {threads} thread(s)", rel: 2e-5, abs: 1e-6);
                if (df == null) continue;
                var dy = TestData.Random("dy", Shape, 12).Data;
                dy.CopyTo(tops[0].Diff);
                layer.Backward(tops, [true], [x]);

                var expectedDx = new float[xs.Length];
                for (int i = 0; i < xs.Length; i++) expectedDx[i] = (float)(dy[i] * df(xs[i]));
                AssertClose(x.Diff, expectedDx, $"{type} bottom gradient, {threads} thread(s)", rel: 1e-4, abs: 1e-6);
            }
        }
        finally
        {
            WorkerPool.Threads = saved;
        }
    }

    [Test]
    public void ClipInPlaceKeepsItsMaskPerPiece()
    {
        int saved = WorkerPool.Threads;
        try
        {
            WorkerPool.Threads = 2;
            var x = TestData.Random("x", Shape, 11, -2f, 2f);
            var xs = x.Data.ToArray();
            var param = Param("Clip", "clip");
            param.ClipParam = new ClipParameter { Min = -0.5f, Max = 0.8f };
            var layer = LayerRegistry.Create(param);
            layer.SetUp([x], [x]);
            layer.Forward([x], [x]);
            var dy = TestData.Random("dy", Shape, 12).Data.ToArray();
            dy.CopyTo(x.Diff);
            layer.Backward([x], [true], [x]);
            var expectedY = xs.Select(v => Math.Clamp(v, -0.5f, 0.8f)).ToArray();
            var expectedDx = xs.Select((v, i) => v >= -0.5f && v <= 0.8f ? dy[i] : 0f).ToArray();
            AssertClose(x.Data, expectedY, "clip in place, top");
            AssertClose(x.Diff, expectedDx, "clip in place, bottom gradient");
        }
        finally
        {
            WorkerPool.Threads = saved;
        }
    }
}
