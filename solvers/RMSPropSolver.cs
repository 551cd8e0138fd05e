using Engine.Backends;
using System.Numerics.Tensors;
using Engine.Proto;

namespace Engine.Solvers;

/// <summary>
/// RMSProp (Caffe's "RMSProp"): h = rms_decay·h + (1 − rms_decay)·g², step = lr·lr_mult·g / (√h + delta).
/// Takes no momentum; rms_decay (default 0.99) must lie in [0, 1).
/// </summary>
public class RMSPropSolver(SolverParameter param, string solverPath = "", bool quiet = false) : Solver(param, solverPath, quiet)
{
    public override string TypeName => "RMSProp";

    protected override void CheckParameters()
    {
        if (Param.Momentum != 0)
            throw new EngineException($"{SourceName}: momentum cannot be used with RMSProp (got momentum: {Param.Momentum}); remove `momentum` from the solver file or set it to 0 (rms_decay sets the averaging)");
        if (!(Param.RmsDecay >= 0 && Param.RmsDecay < 1))
            throw new EngineException($"{SourceName}: rms_decay should lie in [0, 1) for RMSProp, got {Param.RmsDecay}");
    }

    protected override void ComputeUpdateValue(int index, float rate) =>
        UpdateRules.RmsProp(TrainNet.LearnableParams[index].Blob.Diff, History[index].Data, Param.RmsDecay, Param.Delta, rate * TrainNet.LearnableParams[index].LrMult, Scratch(index));

    protected override void ComputeUpdateValueOn(IBackend backend, int index, float rate) =>
        backend.RmsPropUpdate(TrainNet.LearnableParams[index].Blob.MutableDiffOn(backend), History[index].MutableDataOn(backend),
            Param.RmsDecay, Param.Delta, rate * TrainNet.LearnableParams[index].LrMult);
}
