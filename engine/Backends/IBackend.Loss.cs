namespace Engine.Backends;

/// <summary>
/// The loss layers' primitives. A loss runs in three steps on the backend: a per-position (or
/// per-element) primitive writes each position's loss, whether it counts for VALID normalisation
/// (1 or 0) and, where the layer needs it, its unscaled gradient; <see cref="LossReduce"/> sums
/// them (deterministic order, no atomics) into the top and keeps the normaliser on the backend;
/// backward multiplies the gradient by the top's diff[0] (the loss weight) over that normaliser,
/// both read on the backend (<see cref="LossScale"/>), so nothing is downloaded.
/// Labels are floats holding integers, truncated as C does; a label outside [0, C) that is not the
/// ignore label gives a NaN loss at its position (the host code throws there) and no gradient.
/// </summary>
public partial interface IBackend
{
    /// <summary>normalizer[0] = max(1, counts == null ? divisor : Σ counts); top[0] = Σ losses / normalizer[0].</summary>
    void LossReduce(BufferView losses, BufferView? counts, float divisor, BufferView top, BufferView normalizer);

    /// <summary>y = alpha·x·(lossWeight[0] / normalizer[0]) (y may be x).</summary>
    void LossScale(float alpha, BufferView x, BufferView lossWeight, BufferView normalizer, BufferView y);

    /// <summary>
    /// Per position k of an outer × C × inner probability array (k = outer index·inner + inner
    /// index): losses[k] = −cw[label]·w·log(max(p_label, floor)), counts[k] = 1; both 0 where the
    /// label is <paramref name="ignoreLabel"/>. w is the weight of the label's element; class
    /// weights are indexed by label.
    /// </summary>
    void NllForward(int outer, int channels, int inner, BufferView prob, BufferView labels, int? ignoreLabel, float floor,
        in LossWeighting weights, BufferView losses, BufferView counts);

    /// <summary>
    /// The fused softmax/log-loss gradient: diff = ((p − [c = label])·s)·cw[label]·w, s = lossWeight[0] /
    /// normalizer[0], w the weight of the label's element; 0 at ignored positions.
    /// </summary>
    void SoftmaxLossBackward(int outer, int channels, int inner, BufferView prob, BufferView labels, int? ignoreLabel,
        in LossWeighting weights, BufferView lossWeight, BufferView normalizer, BufferView diff);

    /// <summary>
    /// The gradient of −log(max(p, floor)) alone: −s·cw[label]·w / max(p_label, floor) at the label, 0
    /// elsewhere and at ignored positions; s = lossWeight[0] / normalizer[0].
    /// </summary>
    void NllBackward(int outer, int channels, int inner, BufferView prob, BufferView labels, int? ignoreLabel, float floor,
        in LossWeighting weights, BufferView lossWeight, BufferView normalizer, BufferView diff);

    /// <summary>
    /// Per position: hits[k] = 1 when fewer than <paramref name="topK"/> classes score strictly higher
    /// than the label's, else 0; counts[k] = 1; both 0 at ignored positions.
    /// </summary>
    void AccuracyForward(int outer, int channels, int inner, int topK, BufferView scores, BufferView labels, int? ignoreLabel,
        BufferView hits, BufferView counts);

    /// <summary>perClass[c] = Σ hits / Σ counts over the positions labelled c (0 when none), from <see cref="AccuracyForward"/>'s outputs.</summary>
    void AccuracyPerClass(int channels, BufferView labels, BufferView hits, BufferView counts, BufferView perClass);

    /// <summary>
    /// InfogainLoss per position of the probabilities (outer × C × inner), H a C × C matrix: with
    /// c_k = cw[label]·H[label, k], losses = −Σ_k c_k·log(max(p_k, FLT_MIN)), counts = 1 and grad_k =
    /// p_k·Σc − c_k (the gradient under the softmax); 0 at ignored positions.
    /// </summary>
    void InfogainForward(int outer, int channels, int inner, BufferView prob, BufferView labels, int? ignoreLabel,
        BufferView h, BufferView? classWeights, BufferView losses, BufferView counts, BufferView grad);

    /// <summary>
    /// HingeLoss per score of an n × dim array, one label per item: t = max(0, 1 − δ·x), δ = +1 at the
    /// label, −1 elsewhere; losses = t (L1) or t² (L2), grad = −δ·[t &gt; 0] or −2δt.
    /// </summary>
    void HingeForward(int n, int dim, BufferView x, BufferView labels, bool l2, BufferView losses, BufferView grad);

    /// <summary>EuclideanLoss per element: losses = ½·w·(a − b)², grad = w·(a − b) (class weights unused).</summary>
    void EuclideanForward(BufferView a, BufferView b, in LossWeighting weights, BufferView losses, BufferView grad);

    /// <summary>
    /// SigmoidCrossEntropyLoss per element (logit x, target t): losses = −w·(x(t − [x ≥ 0]) −
    /// log(1 + e^(x − 2x[x ≥ 0]))), grad = w·(σ(x) − t), counts = 1; all 0 where (int)t is the ignore
    /// label. Class weights are per channel here.
    /// </summary>
    void SigmoidCrossEntropyForward(BufferView x, BufferView t, int? ignoreLabel, in LossWeighting weights,
        BufferView losses, BufferView counts, BufferView grad);

    /// <summary>
    /// SmoothL1Loss per element: d = w_in·(a − b); f = ½(σd)² when |d| &lt; 1/σ², else |d| − ½/σ²;
    /// losses = w_out·f, grad = w_out·w_in·f′(d). A null weight view means 1.
    /// </summary>
    void SmoothL1Forward(BufferView a, BufferView b, BufferView? inside, BufferView? outside, float sigma,
        BufferView losses, BufferView grad);

    /// <summary>
    /// ContrastiveLoss per item of n × C features: d² = ‖a_i − b_i‖²; losses[i] = ½·(similar ? d² :
    /// legacy ? max(m − d², 0) : max(m − d, 0)²), grad the gradient w.r.t. a (Caffe's d + 1e−4 in the
    /// non-legacy dissimilar case). Similar: (int)y ≠ 0.
    /// </summary>
    void ContrastiveForward(int n, int channels, BufferView a, BufferView b, BufferView y, float margin, bool legacy,
        BufferView losses, BufferView grad);
}

/// <summary>How a weight view is laid out over an outer × C × inner prediction (as the host's LossWeights).</summary>
public enum LossWeightKind { None, Element, Channel, Position }

/// <summary>
/// Weights multiplying each prediction element's loss and gradient on a backend: an optional view
/// read as <see cref="Kind"/> says over <see cref="Channels"/> × <see cref="Inner"/>, times optional
/// class weights (indexed by label for the label losses, by channel for the elementwise ones).
/// </summary>
public readonly record struct LossWeighting(BufferView? Weights, LossWeightKind Kind, int Channels, int Inner, BufferView? ClassWeights)
{
    /// <summary>No weights.</summary>
    public static LossWeighting None => new(null, LossWeightKind.None, 1, 1, null);

    /// <summary>The weight of prediction element e under this weighting's view (1 without one), from host spans.</summary>
    public static float At(ReadOnlySpan<float> w, LossWeightKind kind, int e, int channels, int inner) => kind switch
    {
        LossWeightKind.Element => w[e],
        LossWeightKind.Channel => w[e / inner % channels],
        LossWeightKind.Position => w[e / (channels * inner) * inner + e % inner],
        _ => 1f,
    };
}
