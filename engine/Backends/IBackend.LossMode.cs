namespace Engine.Backends;

/// <summary>
/// Primitives of the generic `Loss` layer's modes that the single-purpose loss layers do not need:
/// the hinge, infogain and contrastive losses with per-element weights, class weights and (for the
/// label losses) ignore_label and a class axis with inner positions. They write per-position
/// losses (and valid counts) for <see cref="LossReduce"/> and an unscaled gradient for
/// <see cref="LossScale"/>, as the primitives of IBackend.Loss.cs.
/// </summary>
public partial interface IBackend
{
    /// <summary>
    /// HingeLoss per position k of an outer × C × inner score array: over the C scores of k,
    /// t = max(0, 1 − δ·x), δ = +1 at the label, −1 elsewhere, w = cw[label]·(the score's weight);
    /// losses[k] = Σ w·t (L1) or Σ w·t² (L2), grad = −δ·w·[t &gt; 0] or −2δtw, counts[k] = 1; all 0
    /// at ignored positions (a label outside [0, C): NaN loss, no gradient).
    /// </summary>
    void HingePositionForward(int outer, int channels, int inner, BufferView x, BufferView labels, int? ignoreLabel, bool l2,
        in LossWeighting weights, BufferView losses, BufferView counts, BufferView grad);

    /// <summary>
    /// <see cref="InfogainForward"/> with per-element weights: c_k = cw[label]·w_k·H[label, k], w_k the
    /// weight of element k of the position; losses = −Σ_k c_k·log(max(p_k, FLT_MIN)), grad_k = p_k·Σc − c_k.
    /// </summary>
    void InfogainWeightedForward(int outer, int channels, int inner, BufferView prob, BufferView labels, int? ignoreLabel,
        BufferView h, in LossWeighting weights, BufferView losses, BufferView counts, BufferView grad);

    /// <summary>
    /// <see cref="ContrastiveForward"/> with weights: item i's loss and gradient are multiplied by the
    /// weight of element i·C (weights laid out over n × C × 1) and by cw[similar ? 1 : 0] when
    /// class weights are given.
    /// </summary>
    void ContrastiveWeightedForward(int n, int channels, BufferView a, BufferView b, BufferView y, float margin, bool legacy,
        in LossWeighting weights, BufferView losses, BufferView grad);
}
