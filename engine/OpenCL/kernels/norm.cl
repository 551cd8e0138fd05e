// The normalisation layers' kernels (BatchNorm, Scale, Bias, MVN) and the recurrent ones (LSTM
// step, continuation scaling). Arrays are outer x channels x inner; a per-channel vector holds one
// value per channel d. Buffers come with their offsets; unused optional buffers are flagged by an
// int (has*) and never read.

// What channel_sum adds up (ChannelReduction in C#).
#define REDUCE_SUM 0
#define REDUCE_DOT 1
#define REDUCE_SQDEV 2

// Work-group size of channel_sum_group (the host launches exactly this many per group).
#define NORM_GROUP 64

inline float reduce_term(const int op, const float a, __global const float* b, const int bOff, const int at, const int d)
{
    if (op == REDUCE_DOT) return a * b[bOff + at];
    if (op == REDUCE_SQDEV) { const float v = a - b[bOff + d]; return v * v; }
    return a;
}

// One work-item per channel: for channels with few values (outer*inner small).
__kernel void channel_sum_item(const int op, const int outer, const int channels, const int inner,
                               __global const float* a, const int aOff, __global const float* b, const int bOff,
                               const float alpha, const float beta, __global float* r, const int rOff)
{
    const int d = get_global_id(0);
    if (d >= channels) return;
    float sum = 0.0f;
    for (int o = 0; o < outer; o++)
    {
        const int row = (o * channels + d) * inner;
        for (int i = 0; i < inner; i++) sum += reduce_term(op, a[aOff + row + i], b, bOff, row + i, d);
    }
    r[rOff + d] = beta == 0.0f ? alpha * sum : alpha * sum + beta * r[rOff + d];
}

// One work-group of NORM_GROUP work-items per channel: each work-item strides over the channel's
// outer*inner values, then a tree in local memory adds the partial sums (a fixed order, so the
// result is the same on every run).
__kernel void channel_sum_group(const int op, const int outer, const int channels, const int inner,
                                __global const float* a, const int aOff, __global const float* b, const int bOff,
                                const float alpha, const float beta, __global float* r, const int rOff)
{
    __local float partial[NORM_GROUP];
    const int d = get_group_id(0);
    const int lid = get_local_id(0);
    const int m = outer * inner;
    float sum = 0.0f;
    for (int k = lid; k < m; k += NORM_GROUP)
    {
        const int o = k / inner;
        const int at = (o * channels + d) * inner + (k - o * inner);
        sum += reduce_term(op, a[aOff + at], b, bOff, at, d);
    }
    partial[lid] = sum;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int s = NORM_GROUP / 2; s > 0; s >>= 1)
    {
        if (lid < s) partial[lid] += partial[lid + s];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (lid == 0) r[rOff + d] = beta == 0.0f ? alpha * partial[0] : alpha * partial[0] + beta * r[rOff + d];
}

// y = x*scale[d] + shift[d] (missing scale 1, missing shift 0).
__kernel void channel_affine(const int n, const int channels, const int inner,
                             __global const float* x, const int xOff, const int hasScale, __global const float* s, const int sOff,
                             const int hasShift, __global const float* t, const int tOff, __global float* y, const int yOff)
{
    const int i = get_global_id(0);
    if (i >= n) return;
    const int d = (i / inner) % channels;
    float v = x[xOff + i];
    if (hasScale) v *= s[sOff + d];
    if (hasShift) v += t[tOff + d];
    y[yOff + i] = v;
}

// y = (x - mean[d])*invStd[d] (missing invStd 1); copy (when hasCopy) gets y too.
__kernel void channel_normalize(const int n, const int channels, const int inner,
                                __global const float* x, const int xOff, __global const float* mean, const int mOff,
                                const int hasInv, __global const float* inv, const int iOff,
                                __global float* y, const int yOff, const int hasCopy, __global float* copy, const int cOff)
{
    const int i = get_global_id(0);
    if (i >= n) return;
    const int d = (i / inner) % channels;
    float v = x[xOff + i] - mean[mOff + d];
    if (hasInv) v *= inv[iOff + d];
    y[yOff + i] = v;
    if (hasCopy) copy[cOff + i] = v;
}

// dx = (dy - meanDy[d] - meanDyY[d]*y)*invStd[d].
__kernel void normalize_backward(const int n, const int channels, const int inner,
                                 __global const float* dy, const int dyOff, __global const float* y, const int yOff,
                                 __global const float* a, const int aOff, __global const float* b, const int bOff,
                                 __global const float* inv, const int iOff, __global float* dx, const int dxOff)
{
    const int i = get_global_id(0);
    if (i >= n) return;
    const int d = (i / inner) % channels;
    dx[dxOff + i] = (dy[dyOff + i] - a[aOff + d] - b[bOff + d] * y[yOff + i]) * inv[iOff + d];
}

// BatchNorm in training: invStd from the batch variance, the running sums updated; work-item 0
// also updates the scale factor s.
__kernel void batchnorm_statistics(const int channels, const float correction, const float eps, const float fraction,
                                   __global const float* mean, const int mOff, __global const float* var, const int vOff,
                                   __global float* inv, const int iOff, __global float* meanSum, const int msOff,
                                   __global float* varSum, const int vsOff, __global float* s, const int sOff)
{
    const int d = get_global_id(0);
    if (d >= channels) return;
    const float v = var[vOff + d];
    inv[iOff + d] = 1.0f / sqrt(v + eps);
    meanSum[msOff + d] = meanSum[msOff + d] * fraction + mean[mOff + d];
    varSum[vsOff + d] = varSum[vsOff + d] * fraction + correction * v;
    if (d == 0) s[sOff] = s[sOff] * fraction + 1.0f;
}

// BatchNorm with the stored statistics: f = 1/s (0 when s is 0).
__kernel void batchnorm_global(const int channels, const float eps,
                               __global const float* meanSum, const int msOff, __global const float* varSum, const int vsOff,
                               __global const float* s, const int sOff, __global float* mean, const int mOff,
                               __global float* inv, const int iOff)
{
    const int d = get_global_id(0);
    if (d >= channels) return;
    const float sv = s[sOff];
    const float f = sv == 0.0f ? 0.0f : 1.0f / sv;
    mean[mOff + d] = f * meanSum[msOff + d];
    inv[iOff + d] = 1.0f / sqrt(f * varSum[vsOff + d] + eps);
}

// MVN: invStd = 1/(sqrt(variance) + eps).
__kernel void mvn_inverse_deviation(const int n, const float eps, __global const float* var, const int vOff,
                                    __global float* inv, const int iOff)
{
    const int i = get_global_id(0);
    if (i < n) inv[iOff + i] = 1.0f / (sqrt(var[vOff + i]) + eps);
}

// y = cont[row]*x, exact zeros where cont is 0.
__kernel void continuation_scale(const int n, const int width, __global const float* cont, const int cOff,
                                 __global const float* x, const int xOff, __global float* y, const int yOff)
{
    const int i = get_global_id(0);
    if (i >= n) return;
    const float c = cont[cOff + i / width];
    y[yOff + i] = c == 0.0f ? 0.0f : c * x[xOff + i];
}

inline float sigmoid(const float x) { return 1.0f / (1.0f + exp(-x)); }

// One LSTM step, one work-item per (item, unit): the four gate pre-activations of the unit become
// gate values in place (order i, f, o, g), then c and h.
__kernel void lstm_forward(const int n, const int h, __global float* gates, const int gOff,
                           __global const float* cPrev, const int cpOff, __global const float* cont, const int ctOff,
                           __global float* c, const int cOff, __global float* hOut, const int hOff)
{
    const int k = get_global_id(0);
    if (k >= n * h) return;
    const int item = k / h, d = k - item * h;
    __global float* a = gates + gOff + item * 4 * h;
    const float i = sigmoid(a[d]), f = sigmoid(a[h + d]), o = sigmoid(a[2 * h + d]), g = tanh(a[3 * h + d]);
    a[d] = i;
    a[h + d] = f;
    a[2 * h + d] = o;
    a[3 * h + d] = g;
    const float ct = cont[ctOff + item];
    const float fe = ct == 0.0f ? 0.0f : ct * f;
    const float cv = fe * cPrev[cpOff + k] + i * g;
    c[cOff + k] = cv;
    hOut[hOff + k] = o * tanh(cv);
}

// Its backward: dGates from the gate values; dcOut (may be dcIn) gets the gradient for cPrev.
__kernel void lstm_backward(const int n, const int h, __global const float* gates, const int gOff,
                            __global const float* cPrev, const int cpOff, __global const float* c, const int cOff,
                            __global const float* cont, const int ctOff, __global const float* dh, const int dhOff,
                            __global const float* dcIn, const int dciOff, __global float* dcOut, const int dcoOff,
                            __global float* dGates, const int dgOff)
{
    const int k = get_global_id(0);
    if (k >= n * h) return;
    const int item = k / h, d = k - item * h;
    __global const float* a = gates + gOff + item * 4 * h;
    __global float* da = dGates + dgOff + item * 4 * h;
    const float i = a[d], f = a[h + d], o = a[2 * h + d], g = a[3 * h + d];
    const float ct = cont[ctOff + item];
    const float tc = tanh(c[cOff + k]);
    const float dhv = dh[dhOff + k];
    const float dcv = dcIn[dciOff + k] + dhv * o * (1.0f - tc * tc);
    da[d] = dcv * g * i * (1.0f - i);
    da[h + d] = ct == 0.0f ? 0.0f : dcv * cPrev[cpOff + k] * ct * f * (1.0f - f);
    da[2 * h + d] = dhv * tc * o * (1.0f - o);
    da[3 * h + d] = dcv * i * (1.0f - g * g);
    dcOut[dcoOff + k] = ct == 0.0f ? 0.0f : dcv * ct * f;
}
