using System.Numerics.Tensors;
using Engine.Proto;

namespace Engine.Solvers;

/// <summary>
/// Stochastic gradient descent with momentum (Caffe's "SGD"):
/// v ← momentum·v + lr·lr_mult·g, then w ← w − v.
/// </summary>
public class SgdSolver(SolverParameter param, string solverPath = "", bool quiet = false) : Solver(param, solverPath, quiet)
{
    public override string TypeName => "SGD";

    protected override void ComputeUpdateValue(int index, float rate)
    {
        var p = TrainNet.LearnableParams[index];
        float localRate = rate * p.LrMult;
        var history = History[index].Data;
        var diff = p.Blob.Diff;
        TensorPrimitives.Multiply(history, Param.Momentum, history);
        TensorPrimitives.MultiplyAdd(diff, localRate, history, history);
        history.CopyTo(diff);
    }
}
