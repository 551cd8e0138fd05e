// The neuron layers' maps (one work-item per element, n elements from each buffer's offset;
// in place when an output is an input) and PReLU's per-channel slope gradient. Each kernel
// follows its layer's host code in layers/neuron/, operation for operation where it can.

// y = |x|.
__kernel void abs_forward(const int n, __global const float* x, const int xOff, __global float* y, const int yOff)
{
    const int i = get_global_id(0);
    if (i < n) y[yOff + i] = fabs(x[xOff + i]);
}

// dx = sign(x) * dy (0 at x = 0).
__kernel void abs_backward(const int n, __global const float* x, const int xOff,
                           __global const float* dy, const int dyOff, __global float* dx, const int dxOff)
{
    const int i = get_global_id(0);
    if (i >= n) return;
    const float v = x[xOff + i], g = dy[dyOff + i];
    dx[dxOff + i] = v > 0.0f ? g : v < 0.0f ? -g : 0.0f;
}

// Softplus computed stably: y = max(x, 0) + log(1 + exp(-|x|)).
__kernel void bnll_forward(const int n, __global const float* x, const int xOff, __global float* y, const int yOff)
{
    const int i = get_global_id(0);
    if (i >= n) return;
    const float v = x[xOff + i];
    y[yOff + i] = fmax(v, 0.0f) + log1p(exp(-fabs(v)));
}

// dx = dy - dy * exp(-y): sigmoid(x) = 1 - exp(-y), from the forward output y.
__kernel void bnll_backward(const int n, __global const float* y, const int yOff,
                            __global const float* dy, const int dyOff, __global float* dx, const int dxOff)
{
    const int i = get_global_id(0);
    if (i >= n) return;
    const float g = dy[dyOff + i];
    dx[dxOff + i] = g - g * exp(-y[yOff + i]);
}

// y = min(max(x, lo), hi); with keepMask, mask = 1 where lo <= x <= hi, else 0 (for backward in place).
__kernel void clip_forward(const int n, const float lo, const float hi, __global const float* x, const int xOff,
                           __global float* y, const int yOff, const int keepMask, __global float* mask, const int maskOff)
{
    const int i = get_global_id(0);
    if (i >= n) return;
    const float v = x[xOff + i];
    if (keepMask) mask[maskOff + i] = v >= lo && v <= hi ? 1.0f : 0.0f;
    y[yOff + i] = v < lo ? lo : v > hi ? hi : v; // NaN stays NaN, as on the host
}

// dx = dy where lo <= x <= hi, 0 elsewhere.
__kernel void clip_backward(const int n, const float lo, const float hi, __global const float* x, const int xOff,
                            __global const float* dy, const int dyOff, __global float* dx, const int dxOff)
{
    const int i = get_global_id(0);
    if (i >= n) return;
    const float v = x[xOff + i];
    dx[dxOff + i] = v >= lo && v <= hi ? dy[dyOff + i] : 0.0f;
}

// y = x where x > 0, alpha * (exp(x) - 1) elsewhere (exp - 1 as the host and Caffe write it).
__kernel void elu_forward(const int n, const float alpha, __global const float* x, const int xOff,
                          __global float* y, const int yOff)
{
    const int i = get_global_id(0);
    if (i >= n) return;
    const float v = x[xOff + i];
    y[yOff + i] = v > 0.0f ? v : alpha * (exp(v) - 1.0f);
}

// dx = dy where x > 0, dy * (y + alpha) elsewhere (in place x is y, which has x's sign for alpha >= 0).
__kernel void elu_backward(const int n, const float alpha, __global const float* x, const int xOff,
                           __global const float* y, const int yOff, __global const float* dy, const int dyOff,
                           __global float* dx, const int dxOff)
{
    const int i = get_global_id(0);
    if (i >= n) return;
    const float g = dy[dyOff + i];
    dx[dxOff + i] = x[xOff + i] > 0.0f ? g : g * (y[yOff + i] + alpha);
}

// y = outer * exp(inner * x): base^(shift + scale*x) with inner = ln(base)*scale, outer = base^shift.
__kernel void exp_forward(const int n, const float inner, const float outer, __global const float* x, const int xOff,
                          __global float* y, const int yOff)
{
    const int i = get_global_id(0);
    if (i < n) y[yOff + i] = outer * exp(inner * x[xOff + i]);
}

// dx = (y * dy) * inner, from the forward output y.
__kernel void exp_backward(const int n, const float inner, __global const float* y, const int yOff,
                           __global const float* dy, const int dyOff, __global float* dx, const int dxOff)
{
    const int i = get_global_id(0);
    if (i < n) dx[dxOff + i] = (y[yOff + i] * dy[dyOff + i]) * inner;
}

// u = scale*x + shift; y = log(u) * baseScale; with keepArg, arg = u (for backward in place).
__kernel void log_forward(const int n, const float scale, const float shift, const float baseScale,
                          __global const float* x, const int xOff, __global float* y, const int yOff,
                          const int keepArg, __global float* arg, const int argOff)
{
    const int i = get_global_id(0);
    if (i >= n) return;
    const float u = scale * x[xOff + i] + shift;
    if (keepArg) arg[argOff + i] = u;
    y[yOff + i] = log(u) * baseScale;
}

// dx = (dy / u) * k with u = scale*x + shift (scale 1, shift 0 when x is the kept argument).
__kernel void log_backward(const int n, const float scale, const float shift, const float k,
                           __global const float* x, const int xOff, __global const float* dy, const int dyOff,
                           __global float* dx, const int dxOff)
{
    const int i = get_global_id(0);
    if (i >= n) return;
    const float u = scale * x[xOff + i] + shift;
    dx[dxOff + i] = (dy[dyOff + i] / u) * k;
}

// u = scale*x + shift; y = u^power (u itself for power 1, u*u for power 2, as the host);
// with keepArg, arg = u (for backward in place). Power 0 is a fill, done by the caller.
__kernel void power_forward(const int n, const float power, const float scale, const float shift,
                            __global const float* x, const int xOff, __global float* y, const int yOff,
                            const int keepArg, __global float* arg, const int argOff)
{
    const int i = get_global_id(0);
    if (i >= n) return;
    const float u = scale * x[xOff + i] + shift;
    if (keepArg) arg[argOff + i] = u;
    y[yOff + i] = power == 1.0f ? u : power == 2.0f ? u * u : pow(u, power);
}

// dx = dy * (u^(power-1) * k), k = power*scale, u = scale*x + shift (scale 1, shift 0 when x is
// the kept argument). Powers 0 and 1 (a fill and a scale) are done by the caller.
__kernel void power_backward(const int n, const float power, const float scale, const float shift, const float k,
                             __global const float* x, const int xOff, __global const float* dy, const int dyOff,
                             __global float* dx, const int dxOff)
{
    const int i = get_global_id(0);
    if (i >= n) return;
    const float u = scale * x[xOff + i] + shift;
    const float d = power == 2.0f ? u : pow(u, power - 1.0f);
    dx[dxOff + i] = dy[dyOff + i] * (d * k);
}

// s = sigmoid(beta*x) = 1 / (1 + exp(-beta*x)), kept for backward; y = x * s.
__kernel void swish_forward(const int n, const float beta, __global const float* x, const int xOff,
                            __global float* y, const int yOff, __global float* s, const int sOff)
{
    const int i = get_global_id(0);
    if (i >= n) return;
    const float v = x[xOff + i];
    const float sig = 1.0f / (1.0f + exp(-(beta * v)));
    s[sOff + i] = sig;
    y[yOff + i] = v * sig;
}

// dx = dy * (beta*y + s*(1 - beta*y)), from the forward output y and the kept sigmoid s.
__kernel void swish_backward(const int n, const float beta, __global const float* y, const int yOff,
                             __global const float* s, const int sOff, __global const float* dy, const int dyOff,
                             __global float* dx, const int dxOff)
{
    const int i = get_global_id(0);
    if (i >= n) return;
    const float by = beta * y[yOff + i];
    dx[dxOff + i] = dy[dyOff + i] * (by + s[sOff + i] * (1.0f - by));
}

// y = 1 where x > threshold, else 0.
__kernel void threshold_forward(const int n, const float threshold, __global const float* x, const int xOff,
                                __global float* y, const int yOff)
{
    const int i = get_global_id(0);
    if (i < n) y[yOff + i] = x[xOff + i] > threshold ? 1.0f : 0.0f;
}

// PReLU over outer x channels x dim: the slope of element i is a[(i / dim) % channels], or a[0]
// when shared.
int prelu_channel(const int i, const int channels, const int dim, const int shared)
{
    return shared ? 0 : (i / dim) % channels;
}

// y = x where x > 0, a_c * x elsewhere.
__kernel void prelu_forward(const int n, const int channels, const int dim, const int shared,
                            __global const float* x, const int xOff, __global const float* a, const int aOff,
                            __global float* y, const int yOff)
{
    const int i = get_global_id(0);
    if (i >= n) return;
    const float v = x[xOff + i];
    y[yOff + i] = v > 0.0f ? v : a[aOff + prelu_channel(i, channels, dim, shared)] * v;
}

// dx = dy where x > 0, a_c * dy elsewhere.
__kernel void prelu_backward(const int n, const int channels, const int dim, const int shared,
                             __global const float* x, const int xOff, __global const float* a, const int aOff,
                             __global const float* dy, const int dyOff, __global float* dx, const int dxOff)
{
    const int i = get_global_id(0);
    if (i >= n) return;
    const float g = dy[dyOff + i];
    dx[dxOff + i] = x[xOff + i] > 0.0f ? g : a[aOff + prelu_channel(i, channels, dim, shared)] * g;
}

#define PRELU_MAX_GROUP 256

// da_c += sum of x*dy over the elements of channel c with x <= 0 (over the batch and the
// positions; every element when shared). One work-group per channel (one in all when shared);
// the work-group size must be a power of two, at most PRELU_MAX_GROUP. Each work-item sums a
// strided share in a fixed order, then a tree in local memory adds the shares: the result does
// not depend on scheduling, and no atomics are needed.
__kernel void prelu_slope_gradient(const int outer, const int channels, const int dim, const int shared,
                                   __global const float* x, const int xOff, __global const float* dy, const int dyOff,
                                   __global float* da, const int daOff)
{
    __local float partial[PRELU_MAX_GROUP];
    const int c = get_group_id(0);
    const int lid = get_local_id(0);
    const int size = get_local_size(0);
    // The elements of channel c, numbered j = n*dim + p (or every element when shared).
    const int count = shared ? outer * channels * dim : outer * dim;
    float sum = 0.0f;
    for (int j = lid; j < count; j += size)
    {
        const int at = shared ? j : ((j / dim) * channels + c) * dim + j % dim;
        const float v = x[xOff + at];
        if (v <= 0.0f) sum += v * dy[dyOff + at];
    }
    partial[lid] = sum;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int stride = size / 2; stride > 0; stride /= 2)
    {
        if (lid < stride) partial[lid] += partial[lid + stride];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (lid == 0) da[daOff + c] += partial[0];
}
