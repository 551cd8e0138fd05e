using Engine.Backends;
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

    protected override void ComputeUpdateValue(int index, float rate) =>
        UpdateRules.Nesterov(TrainNet.LearnableParams[index].Blob.Diff, History[index].Data, Param.Momentum, rate * TrainNet.LearnableParams[index].LrMult, Scratch(index));

    protected override void ComputeUpdateValueOn(IBackend backend, int index, float rate) =>
        backend.NesterovUpdate(TrainNet.LearnableParams[index].Blob.MutableDiffOn(backend), History[index].MutableDataOn(backend),
            Param.Momentum, rate * TrainNet.LearnableParams[index].LrMult);
}
