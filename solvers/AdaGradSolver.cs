using System.Numerics.Tensors;
using Engine.Proto;

namespace Engine.Solvers;

/// <summary>
/// AdaGrad (Caffe's "AdaGrad"): h += g², step = lr·lr_mult·g / (√h + delta). Takes no momentum.
/// </summary>
public class AdaGradSolver(SolverParameter param, string solverPath = "", bool quiet = false) : Solver(param, solverPath, quiet)
{
    public override string TypeName => "AdaGrad";

    protected override void CheckParameters()
    {
        if (Param.Momentum != 0)
            throw new EngineException($"{SourceName}: momentum cannot be used with AdaGrad (got momentum: {Param.Momentum}); remove `momentum` from the solver file or set it to 0");
    }

    protected override void ComputeUpdateValue(int index, float rate)
    {
        var p = TrainNet.LearnableParams[index];
        float localRate = rate * p.LrMult;
        var history = History[index].Data;
        var diff = p.Blob.Diff;
        var update = Scratch(index);
        TensorPrimitives.MultiplyAdd(diff, diff, history, history);
        TensorPrimitives.Sqrt(history, update);
        TensorPrimitives.Add(update, Param.Delta, update);
        TensorPrimitives.Divide(diff, update, update);
        TensorPrimitives.Multiply(update, localRate, diff);
    }
}
