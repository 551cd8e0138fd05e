// Caffe's local response normalisation over N x C x H x W, one work-item per element; each
// gathers its window directly (the sums run in the host layer's order).
//   across channels: scale = k + alpha/n * sum of x^2 over the n channels centred on c
//   within a channel: scale = 1 + alpha/n^2 * sum of x^2 over the n x n window centred on (h, w)
// (zero beyond the edges); y = x * scale^-beta.

__kernel void lrn_forward(const int count, const int channels, const int height, const int width,
                          const int size, const float alpha, const float beta, const float k, const int within,
                          __global const float* x, const int xOff,
                          __global float* scale, const int scaleOff,
                          __global float* y, const int yOff)
{
    const int index = get_global_id(0);
    if (index >= count) return;
    const int plane = height * width, pre = (size - 1) / 2;
    float sum = 0.0f, s;
    if (within) {
        const int at = xOff + index - index % plane;
        const int h = index % plane / width, w = index % width;
        for (int r = max(0, h - pre); r <= min(height - 1, h + pre); r++) {
            float row = 0.0f;
            for (int c = max(0, w - pre); c <= min(width - 1, w + pre); c++) {
                const float v = x[at + r * width + c];
                row += v * v;
            }
            sum += row;
        }
        s = 1.0f + alpha / (float)(size * size) * sum;
    } else {
        const int c = index / plane % channels;
        const int at = xOff + index - c * plane;
        for (int j = max(0, c - pre); j <= min(channels - 1, c + pre); j++) {
            const float v = x[at + j * plane];
            sum += v * v;
        }
        s = k + alpha / (float)size * sum;
    }
    scale[scaleOff + index] = s;
    y[yOff + index] = x[xOff + index] * pow(s, -beta);
}

// dx = dy * scale^-beta - (2*alpha*beta/n') * x * (sum over the window of dy*y/scale),
// n' = n across channels, n^2 within a channel.
__kernel void lrn_backward(const int count, const int channels, const int height, const int width,
                           const int size, const float alpha, const float beta, const int within,
                           __global const float* x, const int xOff,
                           __global const float* y, const int yOff,
                           __global const float* scale, const int scaleOff,
                           __global const float* dy, const int dyOff,
                           __global float* dx, const int dxOff)
{
    const int index = get_global_id(0);
    if (index >= count) return;
    const int plane = height * width, pre = (size - 1) / 2;
    float sum = 0.0f;
    // Offsets of the element's plane (within) or image (across), relative to index.
    if (within) {
        const int at = index - index % plane;
        const int h = index % plane / width, w = index % width;
        for (int r = max(0, h - pre); r <= min(height - 1, h + pre); r++) {
            float row = 0.0f;
            for (int c = max(0, w - pre); c <= min(width - 1, w + pre); c++) {
                const int q = at + r * width + c;
                row += dy[dyOff + q] * y[yOff + q] / scale[scaleOff + q];
            }
            sum += row;
        }
    } else {
        const int c = index / plane % channels;
        const int at = index - c * plane;
        for (int j = max(0, c - pre); j <= min(channels - 1, c + pre); j++) {
            const int q = at + j * plane;
            sum += dy[dyOff + q] * y[yOff + q] / scale[scaleOff + q];
        }
    }
    const float coeff = 2.0f * alpha * beta / (float)(within ? size * size : size);
    dx[dxOff + index] = dy[dyOff + index] * pow(scale[scaleOff + index], -beta) - coeff * x[xOff + index] * sum;
}
