using Engine.Backends;
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

    protected override void ComputeUpdateValue(int index, float rate) =>
        UpdateRules.Sgd(TrainNet.LearnableParams[index].Blob.Diff, History[index].Data, Param.Momentum, rate * TrainNet.LearnableParams[index].LrMult);

    protected override void ComputeUpdateValueOn(IBackend backend, int index, float rate) =>
        backend.SgdUpdate(TrainNet.LearnableParams[index].Blob.MutableDiffOn(backend), History[index].MutableDataOn(backend),
            Param.Momentum, rate * TrainNet.LearnableParams[index].LrMult);
}
