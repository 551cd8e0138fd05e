using System.Numerics.Tensors;
using Engine.Proto;

namespace Engine.Solvers;

/// <summary>
/// Nesterov's accelerated gradient (Caffe's "Nesterov"): v' = momentum·v + lr·lr_mult·g, and the
/// step is (1 + momentum)·v' − momentum·v (step back from the old velocity, then over-step).
/// </summary>
public class NesterovSolver(SolverParameter param, string solverPath = "", bool quiet = false) : Solver(param, solverPath, quiet)
{
    public override string TypeName => "Nesterov";

    protected override void ComputeUpdateValue(int index, float rate)
    {
        var p = TrainNet.LearnableParams[index];
        float localRate = rate * p.LrMult;
        float momentum = Param.Momentum;
        var history = History[index].Data;
        var diff = p.Blob.Diff;
        var previous = Scratch(index);
        history.CopyTo(previous);
        TensorPrimitives.Multiply(history, momentum, history);
        TensorPrimitives.MultiplyAdd(diff, localRate, history, history);
        // step = (1 + momentum)·v' − momentum·v
        TensorPrimitives.Multiply(previous, -momentum, previous);
        TensorPrimitives.MultiplyAdd(history, 1 + momentum, previous, diff);
    }
}
