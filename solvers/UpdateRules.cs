using System.Numerics.Tensors;

namespace Engine.Solvers;

/// <summary>
/// The solvers' update rules over spans, shared by the host solvers and <see cref="Engine.Backends.CpuBackend"/>
/// (the OpenCL kernels in engine/OpenCL/kernels/solver.cl compute the same formulas). Each turns the
/// regularised gradient <c>diff</c> into the step to subtract, updating its history in place;
/// <c>temp</c>/<c>temp2</c> are scratch of the same length.
/// </summary>
public static class UpdateRules
{
    /// <summary>SGD: h ← momentum·h + rate·g; step = h.</summary>
    public static void Sgd(Span<float> diff, Span<float> history, float momentum, float rate)
    {
        TensorPrimitives.Multiply(history, momentum, history);
        TensorPrimitives.MultiplyAdd(diff, rate, history, history);
        history.CopyTo(diff);
    }

    /// <summary>Nesterov: h' ← momentum·h + rate·g; step = (1 + momentum)·h' − momentum·h.</summary>
    public static void Nesterov(Span<float> diff, Span<float> history, float momentum, float rate, Span<float> temp)
    {
        history.CopyTo(temp);
        TensorPrimitives.Multiply(history, momentum, history);
        TensorPrimitives.MultiplyAdd(diff, rate, history, history);
        TensorPrimitives.Multiply(temp, -momentum, temp);
        TensorPrimitives.MultiplyAdd(history, 1 + momentum, temp, diff);
    }

    /// <summary>AdaGrad: h += g²; step = rate·g / (√h + delta).</summary>
    public static void AdaGrad(Span<float> diff, Span<float> history, float delta, float rate, Span<float> temp)
    {
        TensorPrimitives.MultiplyAdd(diff, diff, history, history);
        TensorPrimitives.Sqrt(history, temp);
        TensorPrimitives.Add(temp, delta, temp);
        TensorPrimitives.Divide(diff, temp, temp);
        TensorPrimitives.Multiply(temp, rate, diff);
    }

    /// <summary>RMSProp: h ← decay·h + (1 − decay)·g²; step = rate·g / (√h + delta).</summary>
    public static void RmsProp(Span<float> diff, Span<float> history, float decay, float delta, float rate, Span<float> temp)
    {
        TensorPrimitives.Multiply(diff, diff, temp);
        TensorPrimitives.Multiply(temp, 1 - decay, temp);
        TensorPrimitives.MultiplyAdd(history, decay, temp, history);
        TensorPrimitives.Sqrt(history, temp);
        TensorPrimitives.Add(temp, delta, temp);
        TensorPrimitives.Divide(diff, temp, temp);
        TensorPrimitives.Multiply(temp, rate, diff);
    }

    /// <summary>AdaDelta: g² and step² histories (momentum m); step = rate·g·√((u + δ)/(h + δ)).</summary>
    public static void AdaDelta(Span<float> diff, Span<float> gradients, Span<float> updates, float m, float delta, float rate, Span<float> temp, Span<float> temp2)
    {
        TensorPrimitives.Multiply(diff, diff, temp);
        TensorPrimitives.Multiply(temp, 1 - m, temp);
        TensorPrimitives.MultiplyAdd(gradients, m, temp, gradients);
        TensorPrimitives.Add(updates, delta, temp);
        TensorPrimitives.Add(gradients, delta, temp2);
        TensorPrimitives.Divide(temp, temp2, temp);
        TensorPrimitives.Sqrt(temp, temp);
        TensorPrimitives.Multiply(diff, temp, diff);
        TensorPrimitives.Multiply(diff, diff, temp);
        TensorPrimitives.Multiply(temp, 1 - m, temp);
        TensorPrimitives.MultiplyAdd(updates, m, temp, updates);
        TensorPrimitives.Multiply(diff, rate, diff);
    }

    /// <summary>Adam: m ← β1·m + (1 − β1)·g, v ← β2·v + (1 − β2)·g²; step = rate·m / (√v + ε) (rate bias-corrected by the caller).</summary>
    public static void Adam(Span<float> diff, Span<float> m, Span<float> v, float beta1, float beta2, float epsilon, float rate, Span<float> temp)
    {
        TensorPrimitives.Multiply(diff, 1 - beta1, temp);
        TensorPrimitives.MultiplyAdd(m, beta1, temp, m);
        TensorPrimitives.Multiply(diff, diff, temp);
        TensorPrimitives.Multiply(temp, 1 - beta2, temp);
        TensorPrimitives.MultiplyAdd(v, beta2, temp, v);
        TensorPrimitives.Sqrt(v, temp);
        TensorPrimitives.Add(temp, epsilon, temp);
        TensorPrimitives.Divide(m, temp, temp);
        TensorPrimitives.Multiply(temp, rate, diff);
    }

    /// <summary>L1 weight decay: diff += decay·sign(data).</summary>
    public static void L1(ReadOnlySpan<float> data, Span<float> diff, float decay)
    {
        for (int i = 0; i < data.Length; i++) diff[i] += decay * MathF.Sign(data[i]);
    }
}
