using Engine.Backends;
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

    protected override void ComputeUpdateValue(int index, float rate) =>
        UpdateRules.AdaGrad(TrainNet.LearnableParams[index].Blob.Diff, History[index].Data, Param.Delta, rate * TrainNet.LearnableParams[index].LrMult, Scratch(index));

    protected override void ComputeUpdateValueOn(IBackend backend, int index, float rate) =>
        backend.AdaGradUpdate(TrainNet.LearnableParams[index].Blob.MutableDiffOn(backend), History[index].MutableDataOn(backend),
            Param.Delta, rate * TrainNet.LearnableParams[index].LrMult);
}
