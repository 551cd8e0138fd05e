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

    protected override void ComputeUpdateValue(int index, float rate)
    {
        var p = TrainNet.LearnableParams[index];
        float localRate = rate * p.LrMult;
        float decay = Param.RmsDecay;
        var history = History[index].Data;
        var diff = p.Blob.Diff;
        var update = Scratch(index);
        TensorPrimitives.Multiply(diff, diff, update);
        TensorPrimitives.Multiply(update, 1 - decay, update);
        TensorPrimitives.MultiplyAdd(history, decay, update, history);
        TensorPrimitives.Sqrt(history, update);
        TensorPrimitives.Add(update, Param.Delta, update);
        TensorPrimitives.Divide(diff, update, update);
        TensorPrimitives.Multiply(update, localRate, diff);
    }
}
