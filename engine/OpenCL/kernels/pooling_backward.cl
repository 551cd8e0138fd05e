// 2-D pooling backward over planes of height x width (N*C planes), the adjoint of pooling.cl.
// One work-item per bottom cell: it gathers the gradients of the top cells whose windows cover
// it, in top row-major order (the order the host layer adds them in), so no atomics are needed.

// The top cells [ph_start, ph_end) x [pw_start, pw_end) whose windows cover bottom cell (h, w).
#define COVERING_WINDOWS                                                             \
    const int hp = h + pad_h, wp = w + pad_w;                                        \
    const int ph_start = hp < kh_size ? 0 : (hp - kh_size) / stride_h + 1;           \
    const int ph_end = min(hp / stride_h + 1, out_h);                                \
    const int pw_start = wp < kw_size ? 0 : (wp - kw_size) / stride_w + 1;           \
    const int pw_end = min(wp / stride_w + 1, out_w);

// Max: a top cell sends its gradient to the cell its mask (flat index h*width + w, a float, as
// max_pool_forward writes it) names.
__kernel void max_pool_backward(const int count, __global const float* top_diff, const int topOff,
                                __global const float* mask, const int maskOff,
                                const int height, const int width, const int out_h, const int out_w,
                                const int kh_size, const int kw_size, const int stride_h, const int stride_w,
                                const int pad_h, const int pad_w,
                                __global float* bottom_diff, const int bottomOff)
{
    const int index = get_global_id(0);
    if (index >= count) return;
    const int w = index % width;
    const int h = (index / width) % height;
    const int plane = index / (width * height);
    COVERING_WINDOWS
    const int cell = h * width + w;
    const int top = plane * out_h * out_w;
    float g = 0.0f;
    for (int ph = ph_start; ph < ph_end; ph++)
        for (int pw = pw_start; pw < pw_end; pw++) {
            const int o = top + ph * out_w + pw;
            if (mask[maskOff + o] == (float)cell) g += top_diff[topOff + o];
        }
    bottom_diff[bottomOff + index] = g;
}

// Average: each top cell spreads its gradient over its window divided by Caffe's divisor (the
// window clipped to the padded image), as ave_pool_forward divides.
__kernel void ave_pool_backward(const int count, __global const float* top_diff, const int topOff,
                                const int height, const int width, const int out_h, const int out_w,
                                const int kh_size, const int kw_size, const int stride_h, const int stride_w,
                                const int pad_h, const int pad_w,
                                __global float* bottom_diff, const int bottomOff)
{
    const int index = get_global_id(0);
    if (index >= count) return;
    const int w = index % width;
    const int h = (index / width) % height;
    const int plane = index / (width * height);
    COVERING_WINDOWS
    const int top = plane * out_h * out_w;
    float g = 0.0f;
    for (int ph = ph_start; ph < ph_end; ph++)
        for (int pw = pw_start; pw < pw_end; pw++) {
            const int hs = ph * stride_h - pad_h, ws = pw * stride_w - pad_w;
            const int he = min(hs + kh_size, height + pad_h), we = min(ws + kw_size, width + pad_w);
            g += top_diff[topOff + top + ph * out_w + pw] / (float)((he - hs) * (we - ws));
        }
    bottom_diff[bottomOff + index] = g;
}
