using Engine.Backends;
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

    protected override void ComputeUpdateValue(int index, float rate) =>
        UpdateRules.AdaDelta(TrainNet.LearnableParams[index].Blob.Diff, HistoryOf(index, 0).Data, HistoryOf(index, 1).Data,
            Param.Momentum, Param.Delta, rate * TrainNet.LearnableParams[index].LrMult, Scratch(index, 0), Scratch(index, 1));

    protected override void ComputeUpdateValueOn(IBackend backend, int index, float rate) =>
        backend.AdaDeltaUpdate(TrainNet.LearnableParams[index].Blob.MutableDiffOn(backend), HistoryOf(index, 0).MutableDataOn(backend),
            HistoryOf(index, 1).MutableDataOn(backend), Param.Momentum, Param.Delta, rate * TrainNet.LearnableParams[index].LrMult);
}
