// Elementwise maps (one work-item per element, n elements from each buffer's offset) and the
// softmax over the channel axis of an outer x channels x inner array.

__kernel void axpy(const int n, const float alpha, __global const float* x, const int xOff,
                   __global float* y, const int yOff)
{
    const int i = get_global_id(0);
    if (i < n) y[yOff + i] = mad(alpha, x[xOff + i], y[yOff + i]);
}

__kernel void scale(const int n, const float alpha, __global const float* x, const int xOff,
                    __global float* y, const int yOff)
{
    const int i = get_global_id(0);
    if (i < n) y[yOff + i] = alpha * x[xOff + i];
}

__kernel void add(const int n, __global const float* a, const int aOff, __global const float* b, const int bOff,
                  __global float* y, const int yOff)
{
    const int i = get_global_id(0);
    if (i < n) y[yOff + i] = a[aOff + i] + b[bOff + i];
}

__kernel void mul(const int n, __global const float* a, const int aOff, __global const float* b, const int bOff,
                  __global float* y, const int yOff)
{
    const int i = get_global_id(0);
    if (i < n) y[yOff + i] = a[aOff + i] * b[bOff + i];
}

// y = x for x > 0, slope*x otherwise.
__kernel void relu_forward(const int n, const float slope, __global const float* x, const int xOff,
                           __global float* y, const int yOff)
{
    const int i = get_global_id(0);
    if (i >= n) return;
    const float v = x[xOff + i];
    y[yOff + i] = v > 0.0f ? v : slope * v;
}

// dx = dy where x > 0, slope*dy elsewhere (Caffe's convention at 0).
__kernel void relu_backward(const int n, const float slope, __global const float* x, const int xOff,
                            __global const float* dy, const int dyOff, __global float* dx, const int dxOff)
{
    const int i = get_global_id(0);
    if (i >= n) return;
    const float g = dy[dyOff + i];
    dx[dxOff + i] = x[xOff + i] > 0.0f ? g : slope * g;
}

// y = 1 / (1 + exp(-x)), written as 0.5*tanh(0.5x) + 0.5 (Caffe's form), which cannot overflow.
__kernel void sigmoid_forward(const int n, __global const float* x, const int xOff, __global float* y, const int yOff)
{
    const int i = get_global_id(0);
    if (i < n) y[yOff + i] = 0.5f * tanh(0.5f * x[xOff + i]) + 0.5f;
}

// dx = dy * y * (1 - y), from the forward output y.
__kernel void sigmoid_backward(const int n, __global const float* y, const int yOff,
                               __global const float* dy, const int dyOff, __global float* dx, const int dxOff)
{
    const int i = get_global_id(0);
    if (i >= n) return;
    const float s = y[yOff + i];
    dx[dxOff + i] = dy[dyOff + i] * s * (1.0f - s);
}

__kernel void tanh_forward(const int n, __global const float* x, const int xOff, __global float* y, const int yOff)
{
    const int i = get_global_id(0);
    if (i < n) y[yOff + i] = tanh(x[xOff + i]);
}

// dx = dy * (1 - y^2), from the forward output y.
__kernel void tanh_backward(const int n, __global const float* y, const int yOff,
                            __global const float* dy, const int dyOff, __global float* dx, const int dxOff)
{
    const int i = get_global_id(0);
    if (i >= n) return;
    const float t = y[yOff + i];
    dx[dxOff + i] = dy[dyOff + i] * (1.0f - t * t);
}

// Softmax over the channels of an outer x channels x inner array (inner = 1: row-wise). One
// work-item per (outer, inner) position: subtract the maximum, exponentiate, normalise.
__kernel void softmax_forward(const int outer, const int channels, const int inner,
                              __global const float* x, const int xOff, __global float* y, const int yOff)
{
    const int index = get_global_id(0);
    if (index >= outer * inner) return;
    const int o = index / inner, s = index % inner;
    __global const float* in = x + xOff + o * channels * inner + s;
    __global float* out = y + yOff + o * channels * inner + s;
    float m = -FLT_MAX;
    for (int c = 0; c < channels; c++) m = fmax(m, in[c * inner]);
    float sum = 0.0f;
    for (int c = 0; c < channels; c++) {
        const float e = exp(in[c * inner] - m);
        out[c * inner] = e;
        sum += e;
    }
    const float inv = 1.0f / sum;
    for (int c = 0; c < channels; c++) out[c * inner] *= inv;
}

// dx = y * (dy - sum_c(dy * y)) over the channels, per (outer, inner) position.
__kernel void softmax_backward(const int outer, const int channels, const int inner,
                               __global const float* y, const int yOff, __global const float* dy, const int dyOff,
                               __global float* dx, const int dxOff)
{
    const int index = get_global_id(0);
    if (index >= outer * inner) return;
    const int o = index / inner, s = index % inner;
    const int base = o * channels * inner + s;
    float dot = 0.0f;
    for (int c = 0; c < channels; c++) dot += dy[dyOff + base + c * inner] * y[yOff + base + c * inner];
    for (int c = 0; c < channels; c++) {
        const int at = base + c * inner;
        dx[dxOff + at] = y[yOff + at] * (dy[dyOff + at] - dot);
    }
}
