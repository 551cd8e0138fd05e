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

    protected override void ComputeUpdateValue(int index, float rate)
    {
        var p = TrainNet.LearnableParams[index];
        float localRate = rate * p.LrMult;
        float beta1 = Param.Momentum, beta2 = Param.Momentum2;
        var m = HistoryOf(index, 0).Data;
        var v = HistoryOf(index, 1).Data;
        var diff = p.Blob.Diff;
        var temp = Scratch(index);
        int t = Iter + 1;
        float correction = (float)(Math.Sqrt(1 - Math.Pow(beta2, t)) / (1 - Math.Pow(beta1, t)));

        TensorPrimitives.Multiply(diff, 1 - beta1, temp);
        TensorPrimitives.MultiplyAdd(m, beta1, temp, m);
        TensorPrimitives.Multiply(diff, diff, temp);
        TensorPrimitives.Multiply(temp, 1 - beta2, temp);
        TensorPrimitives.MultiplyAdd(v, beta2, temp, v);
        TensorPrimitives.Sqrt(v, temp);
        TensorPrimitives.Add(temp, Param.Delta, temp);
        TensorPrimitives.Divide(m, temp, temp);
        TensorPrimitives.Multiply(temp, localRate * correction, diff);
    }
}
