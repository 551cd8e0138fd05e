// The loss layers' kernels. A loss is computed in three steps, all on the device:
//  1. a per-position (or per-element) kernel writes each position's loss, whether it counts (1/0)
//     for VALID normalisation, and where the layer needs it, its gradient (unscaled);
//  2. loss_reduce, one work-group, sums the losses and the counts in a fixed order (no atomics),
//     computes the normaliser and writes the loss to the top;
//  3. in backward, the gradient is multiplied by the top's diff[0] (the loss weight) over the
//     normaliser, both read from device memory.
// Labels are floats holding integers (truncated as C does). A label outside [0, C) that is not the
// ignore label makes that position's loss NaN (the host code reports an error there), with no
// gradient, so no kernel reads outside its buffers.

// A weight view's layout over an outer x C x inner prediction (LossWeightKind).
#define W_NONE 0
#define W_ELEMENT 1
#define W_CHANNEL 2
#define W_POSITION 3

// The weight of prediction element e.
inline float weight_at(__global const float* w, const int wOff, const int kind, const int e,
                       const int channels, const int inner)
{
    if (kind == W_ELEMENT) return w[wOff + e];
    if (kind == W_CHANNEL) return w[wOff + (e / inner) % channels];
    if (kind == W_POSITION) return w[wOff + e / (channels * inner) * inner + e % inner];
    return 1.0f;
}

// The label of position k: >= 0, -1 when ignored, -2 when out of range.
inline int label_at(__global const float* labels, const int lOff, const int k, const int channels,
                    const int hasIgnore, const int ignore)
{
    const int label = (int)labels[lOff + k];
    if (hasIgnore && label == ignore) return -1;
    return label >= 0 && label < channels ? label : -2;
}

// ---- the reduction ------------------------------------------------------------------------

// One work-group of LOSS_GROUP_MAX or fewer work-items (a power of two, get_local_size(0)):
// work-item t sums elements t, t + L, t + 2L, ... (Kahan-compensated), then a tree in local
// memory. norm[0] = max(1, hasCounts ? sum(counts) : divisor); top[0] = sum(losses) / norm[0].
#define LOSS_GROUP_MAX 256
__kernel void loss_reduce(const int n, __global const float* losses, const int lOff,
                          const int hasCounts, __global const float* counts, const int cOff,
                          const float divisor, __global float* top, const int tOff,
                          __global float* norm, const int nOff)
{
    __local float sumL[LOSS_GROUP_MAX];
    __local float sumC[LOSS_GROUP_MAX];
    const int t = get_local_id(0), size = get_local_size(0);
    float s = 0.0f, sc = 0.0f, comp = 0.0f;
    for (int i = t; i < n; i += size)
    {
        const float y = losses[lOff + i] - comp;
        const float next = s + y;
        comp = (next - s) - y;
        s = next;
        if (hasCounts) sc += counts[cOff + i]; // whole numbers: exact below 2^24
    }
    sumL[t] = s;
    sumC[t] = sc;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int stride = size / 2; stride > 0; stride >>= 1)
    {
        if (t < stride)
        {
            sumL[t] += sumL[t + stride];
            sumC[t] += sumC[t + stride];
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (t == 0)
    {
        const float d = fmax(1.0f, hasCounts ? sumC[0] : divisor);
        norm[nOff] = d;
        top[tOff] = sumL[0] / d;
    }
}

// y = alpha * x * (lossWeight[0] / norm[0]): the gradient scaled by the top's diff over the normaliser.
__kernel void loss_scale(const int n, const float alpha, __global const float* x, const int xOff,
                         __global const float* lw, const int lwOff, __global const float* norm, const int nOff,
                         __global float* y, const int yOff)
{
    const int i = get_global_id(0);
    if (i >= n) return;
    const float s = lw[lwOff] / norm[nOff];
    y[yOff + i] = x[xOff + i] * (alpha * s);
}

// ---- classification losses over outer x C x inner, one label per outer x inner position ----

// Per position k = i*inner + j: loss = -cw[label]*w*log(max(p_label, floor)), count 1 unless ignored.
__kernel void nll_forward(const int outer, const int channels, const int inner,
                          __global const float* prob, const int pOff, __global const float* labels, const int lOff,
                          const int hasIgnore, const int ignore, const float floor_,
                          __global const float* w, const int wOff, const int wKind,
                          const int hasCw, __global const float* cw, const int cwOff,
                          __global float* losses, const int lsOff, __global float* counts, const int cOff)
{
    const int k = get_global_id(0);
    if (k >= outer * inner) return;
    const int label = label_at(labels, lOff, k, channels, hasIgnore, ignore);
    if (label == -1) { losses[lsOff + k] = 0.0f; counts[cOff + k] = 0.0f; return; }
    counts[cOff + k] = 1.0f;
    if (label < 0) { losses[lsOff + k] = NAN; return; }
    const int i = k / inner, j = k % inner;
    const int at = (i * channels + label) * inner + j;
    const float weight = (hasCw ? cw[cwOff + label] : 1.0f) * weight_at(w, wOff, wKind, at, channels, inner);
    losses[lsOff + k] = -weight * log(fmax(prob[pOff + at], floor_));
}

// The fused softmax/log-loss gradient per element: ((p - [c == label]) * s) * weight, 0 at
// ignored positions; s = lossWeight[0] / norm[0].
__kernel void softmax_loss_backward(const int outer, const int channels, const int inner,
                                    __global const float* prob, const int pOff, __global const float* labels, const int lOff,
                                    const int hasIgnore, const int ignore,
                                    __global const float* w, const int wOff, const int wKind,
                                    const int hasCw, __global const float* cw, const int cwOff,
                                    __global const float* lw, const int lwOff, __global const float* norm, const int nOff,
                                    __global float* diff, const int dOff)
{
    const int e = get_global_id(0);
    if (e >= outer * channels * inner) return;
    const int j = e % inner, c = (e / inner) % channels, i = e / (channels * inner);
    const int label = label_at(labels, lOff, i * inner + j, channels, hasIgnore, ignore);
    if (label < 0) { diff[dOff + e] = 0.0f; return; }
    const float s = lw[lwOff] / norm[nOff];
    float g = prob[pOff + e] * s;
    if (c == label) g -= s;
    const int at = (i * channels + label) * inner + j;
    const float weight = (hasCw ? cw[cwOff + label] : 1.0f) * weight_at(w, wOff, wKind, at, channels, inner);
    diff[dOff + e] = g * weight;
}

// The gradient of -log(max(p, floor)) alone: -s*cw*w / max(p_label, floor) at the label, 0 elsewhere.
__kernel void nll_backward(const int outer, const int channels, const int inner,
                           __global const float* prob, const int pOff, __global const float* labels, const int lOff,
                           const int hasIgnore, const int ignore, const float floor_,
                           __global const float* w, const int wOff, const int wKind,
                           const int hasCw, __global const float* cw, const int cwOff,
                           __global const float* lw, const int lwOff, __global const float* norm, const int nOff,
                           __global float* diff, const int dOff)
{
    const int e = get_global_id(0);
    if (e >= outer * channels * inner) return;
    const int j = e % inner, c = (e / inner) % channels, i = e / (channels * inner);
    const int label = label_at(labels, lOff, i * inner + j, channels, hasIgnore, ignore);
    if (label != c) { diff[dOff + e] = 0.0f; return; }
    const float s = lw[lwOff] / norm[nOff];
    const float weight = (hasCw ? cw[cwOff + label] : 1.0f) * weight_at(w, wOff, wKind, e, channels, inner);
    diff[dOff + e] = -s * weight / fmax(prob[pOff + e], floor_);
}

// Per position: hit = 1 when fewer than topK classes score strictly higher than the label's
// class; count = 1 unless ignored. An out-of-range label gives a NaN hit.
__kernel void accuracy_forward(const int outer, const int channels, const int inner, const int topK,
                               __global const float* scores, const int sOff, __global const float* labels, const int lOff,
                               const int hasIgnore, const int ignore,
                               __global float* hits, const int hOff, __global float* counts, const int cOff)
{
    const int k = get_global_id(0);
    if (k >= outer * inner) return;
    const int label = label_at(labels, lOff, k, channels, hasIgnore, ignore);
    if (label == -1) { hits[hOff + k] = 0.0f; counts[cOff + k] = 0.0f; return; }
    counts[cOff + k] = 1.0f;
    if (label < 0) { hits[hOff + k] = NAN; return; }
    const int at = (k / inner) * channels * inner + k % inner;
    const float truth = scores[sOff + at + label * inner];
    int better = 0;
    for (int c = 0; c < channels && better < topK; c++)
        if (scores[sOff + at + c * inner] > truth) better++;
    hits[hOff + k] = better < topK ? 1.0f : 0.0f;
}

// Per class c (one work-item each): the hits over the counted positions labelled c, over their
// number (0 when none). Positions are read in order, so the sums are exact and deterministic.
__kernel void accuracy_per_class(const int positions, const int channels,
                                 __global const float* labels, const int lOff,
                                 __global const float* hits, const int hOff, __global const float* counts, const int cOff,
                                 __global float* perClass, const int pcOff)
{
    const int c = get_global_id(0);
    if (c >= channels) return;
    float h = 0.0f, n = 0.0f;
    for (int k = 0; k < positions; k++)
        if ((int)labels[lOff + k] == c && counts[cOff + k] != 0.0f)
        {
            h += hits[hOff + k];
            n += 1.0f;
        }
    perClass[pcOff + c] = n == 0.0f ? 0.0f : h / n;
}

// InfogainLoss per position (H is C x C): with c_k = cw[label]*H[label, k], loss = -sum_k c_k *
// log(max(p_k, FLT_MIN)) and grad_k = p_k * sum(c) - c_k; 0 and no count at ignored positions.
__kernel void infogain_forward(const int outer, const int channels, const int inner,
                               __global const float* prob, const int pOff, __global const float* labels, const int lOff,
                               const int hasIgnore, const int ignore, __global const float* h, const int hOff,
                               const int hasCw, __global const float* cw, const int cwOff,
                               __global float* losses, const int lsOff, __global float* counts, const int cOff,
                               __global float* grad, const int gOff)
{
    const int k = get_global_id(0);
    if (k >= outer * inner) return;
    const int label = label_at(labels, lOff, k, channels, hasIgnore, ignore);
    const int at = (k / inner) * channels * inner + k % inner;
    counts[cOff + k] = label == -1 ? 0.0f : 1.0f;
    if (label < 0)
    {
        losses[lsOff + k] = label == -1 ? 0.0f : NAN;
        for (int c = 0; c < channels; c++) grad[gOff + at + c * inner] = 0.0f;
        return;
    }
    const float weight = hasCw ? cw[cwOff + label] : 1.0f;
    float loss = 0.0f, rowSum = 0.0f;
    for (int c = 0; c < channels; c++)
    {
        const float v = weight * h[hOff + label * channels + c];
        rowSum += v;
        loss -= v * log(fmax(prob[pOff + at + c * inner], FLT_MIN));
    }
    for (int c = 0; c < channels; c++)
    {
        const int e = at + c * inner;
        grad[gOff + e] = prob[pOff + e] * rowSum - weight * h[hOff + label * channels + c];
    }
    losses[lsOff + k] = loss;
}

// HingeLoss per score of an n x dim array, one label per item: t = max(0, 1 - delta*x) with
// delta = +1 at the label, -1 elsewhere; loss t (L1) or t^2 (L2); grad -delta*[t > 0] or -2*delta*t.
__kernel void hinge_forward(const int n, const int dim, __global const float* x, const int xOff,
                            __global const float* labels, const int lOff, const int l2,
                            __global float* losses, const int lsOff, __global float* grad, const int gOff)
{
    const int e = get_global_id(0);
    if (e >= n * dim) return;
    const int label = label_at(labels, lOff, e / dim, dim, 0, 0);
    if (label < 0) { losses[lsOff + e] = NAN; grad[gOff + e] = 0.0f; return; }
    const float delta = e % dim == label ? 1.0f : -1.0f;
    const float t = fmax(0.0f, 1.0f - delta * x[xOff + e]);
    losses[lsOff + e] = l2 ? t * t : t;
    grad[gOff + e] = l2 ? -2.0f * delta * t : (t > 0.0f ? -delta : 0.0f);
}

// ---- elementwise losses -------------------------------------------------------------------

// EuclideanLoss: loss 0.5*w*d^2, grad w*d with d = a - b.
__kernel void euclidean_forward(const int n, __global const float* a, const int aOff, __global const float* b, const int bOff,
                                __global const float* w, const int wOff, const int wKind, const int channels, const int inner,
                                __global float* losses, const int lsOff, __global float* grad, const int gOff)
{
    const int e = get_global_id(0);
    if (e >= n) return;
    const float d = a[aOff + e] - b[bOff + e];
    const float weight = weight_at(w, wOff, wKind, e, channels, inner);
    losses[lsOff + e] = 0.5f * weight * d * d;
    grad[gOff + e] = weight * d;
}

// SigmoidCrossEntropyLoss: loss -w*(x*(t - [x >= 0]) - log(1 + exp(x - 2x[x >= 0]))), grad
// w*(sigmoid(x) - t); 0 and no count where (int)t is the ignore label. The class weights are
// per channel here.
__kernel void sigmoid_ce_forward(const int n, __global const float* x, const int xOff, __global const float* t, const int tOff,
                                 const int hasIgnore, const int ignore,
                                 __global const float* w, const int wOff, const int wKind, const int channels, const int inner,
                                 const int hasCw, __global const float* cw, const int cwOff,
                                 __global float* losses, const int lsOff, __global float* counts, const int cOff,
                                 __global float* grad, const int gOff)
{
    const int e = get_global_id(0);
    if (e >= n) return;
    const float target = t[tOff + e];
    if (hasIgnore && (int)target == ignore)
    {
        losses[lsOff + e] = 0.0f;
        counts[cOff + e] = 0.0f;
        grad[gOff + e] = 0.0f;
        return;
    }
    const float v = x[xOff + e], pos = v >= 0.0f ? 1.0f : 0.0f;
    const float weight = (hasCw ? cw[cwOff + (e / inner) % channels] : 1.0f) * weight_at(w, wOff, wKind, e, channels, inner);
    losses[lsOff + e] = -weight * (v * (target - pos) - log1p(exp(v - 2.0f * v * pos)));
    const float sigma = v >= 0.0f ? 1.0f / (1.0f + exp(-v)) : exp(v) / (1.0f + exp(v));
    grad[gOff + e] = weight * (sigma - target);
    counts[cOff + e] = 1.0f;
}

// SmoothL1Loss: d = w_in*(a - b); f = 0.5*(sigma*d)^2 when |d| < 1/sigma^2, else |d| - 0.5/sigma^2;
// loss w_out*f, grad w_out*w_in*f'(d). hasIn/hasOut = 0: weight 1.
__kernel void smooth_l1_forward(const int n, __global const float* a, const int aOff, __global const float* b, const int bOff,
                                const int hasIn, __global const float* wIn, const int inOff,
                                const int hasOut, __global const float* wOut, const int outOff, const float sigma,
                                __global float* losses, const int lsOff, __global float* grad, const int gOff)
{
    const int e = get_global_id(0);
    if (e >= n) return;
    const float sigma2 = sigma * sigma, knee = 1.0f / sigma2;
    const float win = hasIn ? wIn[inOff + e] : 1.0f, wout = hasOut ? wOut[outOff + e] : 1.0f;
    const float d = win * (a[aOff + e] - b[bOff + e]), ad = fabs(d);
    float f, df;
    if (ad < knee) { f = 0.5f * sigma2 * d * d; df = sigma2 * d; }
    else { f = ad - 0.5f / sigma2; df = d > 0.0f ? 1.0f : (d < 0.0f ? -1.0f : 0.0f); }
    losses[lsOff + e] = wout * f;
    grad[gOff + e] = wout * win * df;
}

// ContrastiveLoss, one work-item per item of C features: d2 = |a_i - b_i|^2; similar (y != 0):
// loss 0.5*d2, grad (a - b); else legacy 0.5*max(m - d2, 0), grad -(a - b) when m > d2; else
// 0.5*max(m - d, 0)^2, grad -(m - d)/(d + 1e-4)*(a - b) when m > d.
__kernel void contrastive_forward(const int n, const int channels, __global const float* a, const int aOff,
                                  __global const float* b, const int bOff, __global const float* y, const int yOff,
                                  const float margin, const int legacy,
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
    float loss, factor;
    if ((int)y[yOff + i] != 0) { loss = d2; factor = 1.0f; }
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
    losses[lsOff + i] = 0.5f * loss;
    for (int c = 0; c < channels; c++)
        grad[gOff + off + c] = factor * (a[aOff + off + c] - b[bOff + off + c]);
}

// ---- the generic Loss layer's modes the kernels above do not cover --------------------------
// Hinge, infogain and contrastive with weights, class weights and ignore_label; each writes one
// loss (and valid count) per position and the unscaled gradient, for loss_reduce and loss_scale.

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
    const int label = label_at(labels, lOff, k, channels, hasIgnore, ignore);
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
        const float weight = classW * weight_at(w, wOff, wKind, e, channels, inner);
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
    const int label = label_at(labels, lOff, k, channels, hasIgnore, ignore);
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
        const float v = classW * weight_at(w, wOff, wKind, e, channels, inner) * h[hOff + label * channels + c];
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
    const float weight = weight_at(w, wOff, wKind, off, channels, 1) * (hasCw ? cw[cwOff + (similar ? 1 : 0)] : 1.0f);
    losses[lsOff + i] = weight * (0.5f * loss);
    for (int c = 0; c < channels; c++)
        grad[gOff + off + c] = weight * (factor * (a[aOff + off + c] - b[bOff + off + c]));
}
