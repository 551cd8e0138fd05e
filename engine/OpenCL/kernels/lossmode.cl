// The generic Loss layer's modes that the single-purpose loss kernels (loss.cl) do not cover:
// hinge, infogain and contrastive with weights, class weights and ignore_label. Each writes one
// loss (and valid count) per position and the unscaled gradient; loss.cl's loss_reduce and
// loss_scale do the rest. Labels are floats holding integers; a label outside [0, C) that is not
// the ignore label gives a NaN loss and no gradient.

#define W_NONE 0
#define W_ELEMENT 1
#define W_CHANNEL 2
#define W_POSITION 3

// The weight of prediction element e under a weight view of the given kind (1 without one).
inline float mode_weight_at(__global const float* w, const int wOff, const int kind, const int e,
                            const int channels, const int inner)
{
    if (kind == W_ELEMENT) return w[wOff + e];
    if (kind == W_CHANNEL) return w[wOff + (e / inner) % channels];
    if (kind == W_POSITION) return w[wOff + e / (channels * inner) * inner + e % inner];
    return 1.0f;
}

// The label of position k: >= 0, -1 when ignored, -2 when out of range.
inline int mode_label_at(__global const float* labels, const int lOff, const int k, const int channels,
                         const int hasIgnore, const int ignore)
{
    const int label = (int)labels[lOff + k];
    if (hasIgnore && label == ignore) return -1;
    return label >= 0 && label < channels ? label : -2;
}

// Hinge per position k of outer x C x inner: t = max(0, 1 - delta*x), w = cw[label]*weight;
// loss sum(w*t) (L1) or sum(w*t^2) (L2); grad -delta*w*[t > 0] or -2*delta*t*w.
__kernel void hinge_position_forward(const int outer, const int channels, const int inner,
                                     __global const float* x, const int xOff, __global const float* labels, const int lOff,
                                     const int hasIgnore, const int ignore, const int l2,
                                     __global const float* w, const int wOff, const int wKind,
                                     const int hasCw, __global const float* cw, const int cwOff,
                                     __global float* losses, const int lsOff, __global float* counts, const int cOff,
                                     __global float* grad, const int gOff)
{
    const int k = get_global_id(0);
    if (k >= outer * inner) return;
    const int label = mode_label_at(labels, lOff, k, channels, hasIgnore, ignore);
    const int at = (k / inner) * channels * inner + k % inner;
    counts[cOff + k] = label == -1 ? 0.0f : 1.0f;
    if (label < 0)
    {
        losses[lsOff + k] = label == -1 ? 0.0f : NAN;
        for (int c = 0; c < channels; c++) grad[gOff + at + c * inner] = 0.0f;
        return;
    }
    const float classW = hasCw ? cw[cwOff + label] : 1.0f;
    float loss = 0.0f;
    for (int c = 0; c < channels; c++)
    {
        const int e = at + c * inner;
        const float delta = c == label ? 1.0f : -1.0f;
        const float t = fmax(0.0f, 1.0f - delta * x[xOff + e]);
        const float weight = classW * mode_weight_at(w, wOff, wKind, e, channels, inner);
        loss += weight * (l2 ? t * t : t);
        grad[gOff + e] = l2 ? -2.0f * delta * t * weight : (t > 0.0f ? -delta * weight : 0.0f);
    }
    losses[lsOff + k] = loss;
}

// Infogain per position with weights: c_k = cw[label]*w_k*H[label, k]; loss -sum(c_k*log(max(p_k, FLT_MIN))),
// grad_k = p_k*sum(c) - c_k.
__kernel void infogain_weighted_forward(const int outer, const int channels, const int inner,
                                        __global const float* prob, const int pOff, __global const float* labels, const int lOff,
                                        const int hasIgnore, const int ignore, __global const float* h, const int hOff,
                                        __global const float* w, const int wOff, const int wKind,
                                        const int hasCw, __global const float* cw, const int cwOff,
                                        __global float* losses, const int lsOff, __global float* counts, const int cOff,
                                        __global float* grad, const int gOff)
{
    const int k = get_global_id(0);
    if (k >= outer * inner) return;
    const int label = mode_label_at(labels, lOff, k, channels, hasIgnore, ignore);
    const int at = (k / inner) * channels * inner + k % inner;
    counts[cOff + k] = label == -1 ? 0.0f : 1.0f;
    if (label < 0)
    {
        losses[lsOff + k] = label == -1 ? 0.0f : NAN;
        for (int c = 0; c < channels; c++) grad[gOff + at + c * inner] = 0.0f;
        return;
    }
    const float classW = hasCw ? cw[cwOff + label] : 1.0f;
    float loss = 0.0f, rowSum = 0.0f;
    for (int c = 0; c < channels; c++)
    {
        const int e = at + c * inner;
        const float v = classW * mode_weight_at(w, wOff, wKind, e, channels, inner) * h[hOff + label * channels + c];
        rowSum += v;
        loss -= v * log(fmax(prob[pOff + e], FLT_MIN));
        grad[gOff + e] = -v;
    }
    for (int c = 0; c < channels; c++)
    {
        const int e = at + c * inner;
        grad[gOff + e] += prob[pOff + e] * rowSum;
    }
    losses[lsOff + k] = loss;
}

// Contrastive per item with weights: as loss.cl's contrastive_forward, loss and gradient times
// w = weight(element i*C) * cw[similar ? 1 : 0].
__kernel void contrastive_weighted_forward(const int n, const int channels, __global const float* a, const int aOff,
                                           __global const float* b, const int bOff, __global const float* y, const int yOff,
                                           const float margin, const int legacy,
                                           __global const float* w, const int wOff, const int wKind,
                                           const int hasCw, __global const float* cw, const int cwOff,
                                           __global float* losses, const int lsOff, __global float* grad, const int gOff)
{
    const int i = get_global_id(0);
    if (i >= n) return;
    const int off = i * channels;
    float d2 = 0.0f;
    for (int c = 0; c < channels; c++)
    {
        const float d = a[aOff + off + c] - b[bOff + off + c];
        d2 += d * d;
    }
    const int similar = (int)y[yOff + i] != 0;
    float loss, factor;
    if (similar) { loss = d2; factor = 1.0f; }
    else if (legacy)
    {
        const float m = margin - d2;
        loss = fmax(m, 0.0f);
        factor = m > 0.0f ? -1.0f : 0.0f;
    }
    else
    {
        const float dist = sqrt(d2), m = margin - dist;
        loss = m > 0.0f ? m * m : 0.0f;
        factor = m > 0.0f ? -m / (dist + 1e-4f) : 0.0f;
    }
    const float weight = mode_weight_at(w, wOff, wKind, off, channels, 1) * (hasCw ? cw[cwOff + (similar ? 1 : 0)] : 1.0f);
    losses[lsOff + i] = weight * (0.5f * loss);
    for (int c = 0; c < channels; c++)
        grad[gOff + off + c] = weight * (factor * (a[aOff + off + c] - b[bOff + off + c]));
}
