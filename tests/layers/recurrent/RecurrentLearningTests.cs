using Engine.Core;
using Engine.Proto;
using Engine.Solvers;
using Engine.Text;
using NUnit.Framework;

namespace Engine.Tests.Layers.Recurrent;

/// <summary>
/// Toy sequences for the learning test: tops x (T×N×1, each value ±1), cont (T×N, 0 at step 0)
/// and label (T×N: −1 = ignored at every step but the last, where it is 1 when the sum of the
/// sequence is positive, else 0). T is odd, so the sum is never 0. A fresh batch every forward.
/// </summary>
[LayerType("ToySequenceData")]
public sealed class ToySequenceDataLayer(LayerParameter param) : Layer(param)
{
    public const int Steps = 7, Batch = 16;

    public override int ExactBottoms => 0;
    public override int ExactTops => 3;

    public override void LayerSetUp(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        top[0].Reshape(Steps, Batch, 1);
        top[1].Reshape(Steps, Batch);
        top[2].Reshape(Steps, Batch);
    }

    public override void Reshape(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top) { }

    public override void Forward(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        Span<float> x = top[0].Data, cont = top[1].Data, label = top[2].Data;
        for (int n = 0; n < Batch; n++)
        {
            int sum = 0;
            for (int t = 0; t < Steps; t++)
            {
                int v = Rng.NextInt(2) == 0 ? -1 : 1;
                sum += v;
                x[t * Batch + n] = v;
                cont[t * Batch + n] = t == 0 ? 0 : 1;
                label[t * Batch + n] = -1;
            }
            label[(Steps - 1) * Batch + n] = sum > 0 ? 1 : 0;
        }
    }
}

[TestFixture]
public class RecurrentLearningTests
{
    [OneTimeSetUp]
    public void Quiet() => Log.Quiet = true;

    private static string Net(string type) => $$"""
        layer { name: "data" type: "ToySequenceData" top: "x" top: "cont" top: "label" }
        layer { name: "rec" type: "{{type}}" bottom: "x" bottom: "cont" top: "h"
          recurrent_param { num_output: 8 weight_filler { type: "uniform" min: -0.3 max: 0.3 } bias_filler { type: "constant" value: 0 } } }
        layer { name: "ip" type: "InnerProduct" bottom: "h" top: "scores"
          inner_product_param { num_output: 2 axis: 2 weight_filler { type: "uniform" min: -0.3 max: 0.3 } } }
        layer { name: "loss" type: "SoftmaxWithLoss" bottom: "scores" bottom: "label" top: "loss"
          softmax_param { axis: 2 } loss_param { ignore_label: -1 } }
        """;

    [TestCase("LSTM")]
    [TestCase("RNN")]
    public void LearnsWhetherTheSumIsPositive(string type)
    {
        var param = new SolverParameter
        {
            NetParam = ProtoText.Parse<NetParameter>(Net(type)),
            BaseLr = 0.1f,
            Momentum = 0.9f,
            LrPolicy = "fixed",
            MaxIter = 400,
            RandomSeed = 5,
            SolverMode = SolverParameter.Types.SolverMode.Cpu,
            ClipGradients = 5,
        };
        var solver = SolverFactory.Create(param, quiet: true);
        solver.Step(400);

        var net = solver.TrainNet;
        int correct = 0, total = 0;
        for (int batch = 0; batch < 10; batch++)
        {
            net.Forward();
            var scores = net.Blob("scores").Data;
            var label = net.Blob("label").Data;
            int last = (ToySequenceDataLayer.Steps - 1) * ToySequenceDataLayer.Batch;
            for (int n = 0; n < ToySequenceDataLayer.Batch; n++)
            {
                int k = last + n;
                int predicted = scores[2 * k + 1] > scores[2 * k] ? 1 : 0;
                if (predicted == (int)label[k]) correct++;
                total++;
            }
        }
        double accuracy = (double)correct / total;
        TestContext.Out.WriteLine($"{type}: accuracy {accuracy:F3} after 400 steps");
        Assert.That(accuracy, Is.GreaterThan(0.9), $"{type} accuracy after 400 SGD steps");
    }
}
