// The solvers' update rules, one work-item per parameter (the formulas of solvers/UpdateRules.cs),
// and a dot product in two passes: each work-group sums a strided share into one partial, the
// host adds the partials.

#define DOT_GROUP 256

__kernel void dot_partial(const int n, __global const float* x, const int xOff,
                          __global const float* y, const int yOff, __global float* partial)
{
    __local float sums[DOT_GROUP];
    const int lid = get_local_id(0);
    const int size = get_local_size(0);
    float s = 0.0f;
    for (int i = get_global_id(0); i < n; i += get_global_size(0)) s = mad(x[xOff + i], y[yOff + i], s);
    sums[lid] = s;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int stride = size / 2; stride > 0; stride /= 2)
    {
        if (lid < stride) sums[lid] += sums[lid + stride];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (lid == 0) partial[get_group_id(0)] = sums[0];
}

__kernel void l1_decay(const int n, const float decay, __global const float* data, const int dataOff,
                       __global float* diff, const int diffOff)
{
    const int i = get_global_id(0);
    if (i >= n) return;
    const float w = data[dataOff + i];
    diff[diffOff + i] += decay * (w > 0.0f ? 1.0f : (w < 0.0f ? -1.0f : 0.0f));
}

__kernel void sgd_update(const int n, __global float* g, const int gOff, __global float* h, const int hOff,
                         const float momentum, const float rate)
{
    const int i = get_global_id(0);
    if (i >= n) return;
    const float v = mad(rate, g[gOff + i], momentum * h[hOff + i]);
    h[hOff + i] = v;
    g[gOff + i] = v;
}

__kernel void nesterov_update(const int n, __global float* g, const int gOff, __global float* h, const int hOff,
                              const float momentum, const float rate)
{
    const int i = get_global_id(0);
    if (i >= n) return;
    const float old = h[hOff + i];
    const float v = mad(rate, g[gOff + i], momentum * old);
    h[hOff + i] = v;
    g[gOff + i] = mad(1.0f + momentum, v, -momentum * old);
}

__kernel void adagrad_update(const int n, __global float* g, const int gOff, __global float* h, const int hOff,
                             const float delta, const float rate)
{
    const int i = get_global_id(0);
    if (i >= n) return;
    const float gi = g[gOff + i];
    const float hi = mad(gi, gi, h[hOff + i]);
    h[hOff + i] = hi;
    g[gOff + i] = rate * (gi / (sqrt(hi) + delta));
}

__kernel void rmsprop_update(const int n, __global float* g, const int gOff, __global float* h, const int hOff,
                             const float decay, const float delta, const float rate)
{
    const int i = get_global_id(0);
    if (i >= n) return;
    const float gi = g[gOff + i];
    const float hi = mad(decay, h[hOff + i], (1.0f - decay) * (gi * gi));
    h[hOff + i] = hi;
    g[gOff + i] = rate * (gi / (sqrt(hi) + delta));
}

__kernel void adadelta_update(const int n, __global float* g, const int gOff, __global float* hg, const int hgOff,
                              __global float* hu, const int huOff, const float m, const float delta, const float rate)
{
    const int i = get_global_id(0);
    if (i >= n) return;
    const float gi = g[gOff + i];
    const float sg = mad(m, hg[hgOff + i], (1.0f - m) * (gi * gi));
    hg[hgOff + i] = sg;
    const float step = gi * sqrt((hu[huOff + i] + delta) / (sg + delta));
    hu[huOff + i] = mad(m, hu[huOff + i], (1.0f - m) * (step * step));
    g[gOff + i] = step * rate;
}

__kernel void adam_update(const int n, __global float* g, const int gOff, __global float* m, const int mOff,
                          __global float* v, const int vOff, const float beta1, const float beta2,
                          const float epsilon, const float rate)
{
    const int i = get_global_id(0);
    if (i >= n) return;
    const float gi = g[gOff + i];
    const float mi = mad(beta1, m[mOff + i], (1.0f - beta1) * gi);
    const float vi = mad(beta2, v[vOff + i], (1.0f - beta2) * (gi * gi));
    m[mOff + i] = mi;
    v[vOff + i] = vi;
    g[gOff + i] = rate * (mi / (sqrt(vi) + epsilon));
}
