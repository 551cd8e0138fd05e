using System.Numerics.Tensors;
using Engine.Proto;

namespace Engine.Solvers;

/// <summary>
/// AdaDelta (Caffe's "AdaDelta"), with momentum as the decay m and delta as δ:
/// h1 = m·h1 + (1 − m)·g²; u = g·√((h2 + δ)/(h1 + δ)); h2 = m·h2 + (1 − m)·u²; step = lr·lr_mult·u.
/// Two history blobs per parameter: all h1 first, then all h2, as Caffe saves them.
/// </summary>
public class AdaDeltaSolver(SolverParameter param, string solverPath = "", bool quiet = false) : Solver(param, solverPath, quiet)
{
    public override string TypeName => "AdaDelta";

    protected override int HistoryBlobsPerParam => 2;

    protected override void ComputeUpdateValue(int index, float rate)
    {
        var p = TrainNet.LearnableParams[index];
        float localRate = rate * p.LrMult;
        float m = Param.Momentum, delta = Param.Delta;
        var gradients = HistoryOf(index, 0).Data;
        var updates = HistoryOf(index, 1).Data;
        var diff = p.Blob.Diff;
        var update = Scratch(index, 0);
        var temp = Scratch(index, 1);

        TensorPrimitives.Multiply(diff, diff, update);
        TensorPrimitives.Multiply(update, 1 - m, update);
        TensorPrimitives.MultiplyAdd(gradients, m, update, gradients);
        TensorPrimitives.Add(updates, delta, update);
        TensorPrimitives.Add(gradients, delta, temp);
        TensorPrimitives.Divide(update, temp, update);
        TensorPrimitives.Sqrt(update, update);
        TensorPrimitives.Multiply(diff, update, diff);
        TensorPrimitives.Multiply(diff, diff, update);
        TensorPrimitives.Multiply(update, 1 - m, update);
        TensorPrimitives.MultiplyAdd(updates, m, update, updates);
        TensorPrimitives.Multiply(diff, localRate, diff);
    }
}
