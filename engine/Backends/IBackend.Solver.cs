namespace Engine.Backends;

/// <summary>The solvers' primitives: a dot product for the gradient norm, L1 decay and the fused update rules
/// (the formulas are <see cref="Engine.Solvers.UpdateRules"/>'s). Each update turns the regularised gradient
/// <c>diff</c> into the step and updates the history in place.</summary>
public partial interface IBackend
{
    /// <summary>Σ x·y, in double where the backend can; waits for the result.</summary>
    double Dot(BufferView x, BufferView y);

    /// <summary>diff += decay·sign(data).</summary>
    void L1Decay(float decay, BufferView data, BufferView diff);

    void SgdUpdate(BufferView diff, BufferView history, float momentum, float rate);

    void NesterovUpdate(BufferView diff, BufferView history, float momentum, float rate);

    void AdaGradUpdate(BufferView diff, BufferView history, float delta, float rate);

    void RmsPropUpdate(BufferView diff, BufferView history, float decay, float delta, float rate);

    void AdaDeltaUpdate(BufferView diff, BufferView gradients, BufferView updates, float momentum, float delta, float rate);

    void AdamUpdate(BufferView diff, BufferView m, BufferView v, float beta1, float beta2, float epsilon, float rate);
}
