using Engine.Backends;
using System.Numerics.Tensors;
using Engine.Proto;

namespace Engine.Solvers;

/// <summary>
/// Adam (Caffe's "Adam"), with β1 = momentum, β2 = momentum2 (default 0.999), ε = delta (default 1e-8):
/// m = β1·m + (1 − β1)·g; v = β2·v + (1 − β2)·g²; step = lr·lr_mult·√(1 − β2ᵗ)/(1 − β1ᵗ) · m/(√v + ε)
/// with t = iter + 1. (ε is added to √v, not to the bias-corrected √v̂ as in the paper and PyTorch.)
/// Two history blobs per parameter: all m first, then all v, as Caffe saves them.
/// </summary>
public class AdamSolver(SolverParameter param, string solverPath = "", bool quiet = false) : Solver(param, solverPath, quiet)
{
    public override string TypeName => "Adam";

    protected override int HistoryBlobsPerParam => 2;

    protected override void ComputeUpdateValue(int index, float rate) =>
        UpdateRules.Adam(TrainNet.LearnableParams[index].Blob.Diff, HistoryOf(index, 0).Data, HistoryOf(index, 1).Data,
            Param.Momentum, Param.Momentum2, Param.Delta, CorrectedRate(index, rate), Scratch(index));

    /// <summary>lr·lr_mult with Adam's bias correction √(1 − β2^t) / (1 − β1^t), t = iteration + 1.</summary>
    private float CorrectedRate(int index, float rate)
    {
        int t = Iter + 1;
        float correction = (float)(Math.Sqrt(1 - Math.Pow(Param.Momentum2, t)) / (1 - Math.Pow(Param.Momentum, t)));
        return rate * TrainNet.LearnableParams[index].LrMult * correction;
    }

    protected override void ComputeUpdateValueOn(IBackend backend, int index, float rate) =>
        backend.AdamUpdate(TrainNet.LearnableParams[index].Blob.MutableDiffOn(backend), HistoryOf(index, 0).MutableDataOn(backend),
            HistoryOf(index, 1).MutableDataOn(backend), Param.Momentum, Param.Momentum2, Param.Delta, CorrectedRate(index, rate));
}
