// 2-D max and average pooling forward over planes of height x width (N*C planes). The host
// gives the output size (it depends on Caffe's round_mode), so the kernels only follow windows.
// One work-item per output element.

// Max: the first maximum in row-major window order wins (Caffe's `>`); mask (when has_mask)
// receives its flat index h*width + w in the plane, as a float, like Caffe's top mask.
__kernel void max_pool_forward(const int count, __global const float* bottom, const int bottomOff,
                               const int height, const int width, const int out_h, const int out_w,
                               const int kh_size, const int kw_size, const int stride_h, const int stride_w,
                               const int pad_h, const int pad_w,
                               __global float* top, const int topOff,
                               const int has_mask, __global float* mask, const int maskOff)
{
    const int index = get_global_id(0);
    if (index >= count) return;
    const int ow = index % out_w;
    const int oh = (index / out_w) % out_h;
    const int plane = index / (out_w * out_h);
    int hs = oh * stride_h - pad_h, ws = ow * stride_w - pad_w;
    const int he = min(hs + kh_size, height), we = min(ws + kw_size, width);
    hs = max(hs, 0);
    ws = max(ws, 0);
    __global const float* src = bottom + bottomOff + plane * height * width;
    // Start from the window's first cell, as the Pooling layer does (a window of -inf or NaN
    // then gives that cell, not -FLT_MAX and no index).
    int arg = hs * width + ws;
    float best = src[arg];
    for (int h = hs; h < he; h++)
        for (int w = ws; w < we; w++) {
            const float v = src[h * width + w];
            if (v > best) { best = v; arg = h * width + w; }
        }
    top[topOff + index] = best;
    if (has_mask) mask[maskOff + index] = (float)arg;
}

// Average: Caffe's divisor counts the window clipped to the padded image (padding cells count,
// cells past the padding do not); the sum covers the cells inside the image.
__kernel void ave_pool_forward(const int count, __global const float* bottom, const int bottomOff,
                               const int height, const int width, const int out_h, const int out_w,
                               const int kh_size, const int kw_size, const int stride_h, const int stride_w,
                               const int pad_h, const int pad_w,
                               __global float* top, const int topOff)
{
    const int index = get_global_id(0);
    if (index >= count) return;
    const int ow = index % out_w;
    const int oh = (index / out_w) % out_h;
    const int plane = index / (out_w * out_h);
    int hs = oh * stride_h - pad_h, ws = ow * stride_w - pad_w;
    int he = min(hs + kh_size, height + pad_h), we = min(ws + kw_size, width + pad_w);
    const int pool_size = (he - hs) * (we - ws);
    hs = max(hs, 0);
    ws = max(ws, 0);
    he = min(he, height);
    we = min(we, width);
    __global const float* src = bottom + bottomOff + plane * height * width;
    float sum = 0.0f;
    for (int h = hs; h < he; h++)
        for (int w = ws; w < we; w++) sum += src[h * width + w];
    top[topOff + index] = sum / pool_size;
}
