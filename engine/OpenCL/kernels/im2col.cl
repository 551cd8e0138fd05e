// im2col / col2im for one image (channels x height x width), in Caffe's column layout: column
// row (c*kh_size + kh)*kw_size + kw, column oh*out_w + ow holds the image value at
// (c, oh*stride_h - pad_h + kh*dilation_h, ow*stride_w - pad_w + kw*dilation_w), 0 outside.

// One work-item per (c, oh, ow): reads its window and writes one value to each kernel row.
__kernel void im2col(const int count, const int imageStride, const int columnsStride, __global const float* image, int imageOff,
                     const int height, const int width, const int kh_size, const int kw_size,
                     const int pad_h, const int pad_w, const int stride_h, const int stride_w,
                     const int dilation_h, const int dilation_w, const int out_h, const int out_w,
                     __global float* columns, int columnsOff)
{
    // Dimension 1 is the image of a batch (imageStride, columnsStride floats apart).
    const int index = get_global_id(0);
    if (index >= count) return;
    imageOff += get_global_id(1) * imageStride;
    columnsOff += get_global_id(1) * columnsStride;
    const int ow = index % out_w;
    const int oh = (index / out_w) % out_h;
    const int c = index / (out_w * out_h);
    const int out_size = out_h * out_w;
    __global const float* plane = image + imageOff + c * height * width;
    __global float* col = columns + columnsOff + (c * kh_size * kw_size) * out_size + oh * out_w + ow;
    const int h0 = oh * stride_h - pad_h, w0 = ow * stride_w - pad_w;
    for (int kh = 0; kh < kh_size; kh++) {
        const int h = h0 + kh * dilation_h;
        for (int kw = 0; kw < kw_size; kw++) {
            const int w = w0 + kw * dilation_w;
            *col = (h >= 0 && h < height && w >= 0 && w < width) ? plane[h * width + w] : 0.0f;
            col += out_size;
        }
    }
}

// One work-item per image pixel (c, h, w): the sum of every column element read from it, so no
// two work-items write the same address (no atomics). The pixel is read by kernel offset kh at
// output row oh when h + pad_h - kh*dilation_h = oh*stride_h.
__kernel void col2im(const int count, const int columnsStride, const int imageStride, __global const float* columns, int columnsOff,
                     const int height, const int width, const int kh_size, const int kw_size,
                     const int pad_h, const int pad_w, const int stride_h, const int stride_w,
                     const int dilation_h, const int dilation_w, const int out_h, const int out_w,
                     __global float* image, int imageOff)
{
    const int index = get_global_id(0);
    if (index >= count) return;
    columnsOff += get_global_id(1) * columnsStride;
    imageOff += get_global_id(1) * imageStride;
    const int w = index % width;
    const int h = (index / width) % height;
    const int c = index / (width * height);
    const int out_size = out_h * out_w;
    __global const float* col = columns + columnsOff + c * kh_size * kw_size * out_size;
    float sum = 0.0f;
    for (int kh = 0; kh < kh_size; kh++) {
        const int hh = h + pad_h - kh * dilation_h;
        if (hh < 0 || hh % stride_h != 0) continue;
        const int oh = hh / stride_h;
        if (oh >= out_h) continue;
        for (int kw = 0; kw < kw_size; kw++) {
            const int ww = w + pad_w - kw * dilation_w;
            if (ww < 0 || ww % stride_w != 0) continue;
            const int ow = ww / stride_w;
            if (ow >= out_w) continue;
            sum += col[(kh * kw_size + kw) * out_size + oh * out_w + ow];
        }
    }
    image[imageOff + index] = sum;
}
