// Nearest-neighbour upsampling by an integer factor and max unpooling (the Upsample layer),
// over planes; one work-item per output element (per input element for the scatter).

__kernel void upsample_forward(const int count, const int height, const int width, const int factor,
                               __global const float* x, const int xOff, __global float* y, const int yOff)
{
    const int index = get_global_id(0);
    if (index >= count) return;
    const int out_w = width * factor, out_plane = height * factor * out_w;
    const int p = index / out_plane, oh = index % out_plane / out_w, ow = index % out_w;
    y[yOff + index] = x[xOff + (p * height + oh / factor) * width + ow / factor];
}

// dx = the sum of the element's factor x factor block of dy, row-major (the host's order).
__kernel void upsample_backward(const int count, const int height, const int width, const int factor,
                                __global const float* dy, const int dyOff, __global float* dx, const int dxOff)
{
    const int index = get_global_id(0);
    if (index >= count) return;
    const int out_w = width * factor, out_plane = height * factor * out_w;
    const int p = index / (height * width), h = index / width % height, w = index % width;
    float sum = 0.0f;
    for (int oh = h * factor; oh < (h + 1) * factor; oh++)
        for (int ow = w * factor; ow < (w + 1) * factor; ow++) sum += dy[dyOff + p * out_plane + oh * out_w + ow];
    dx[dxOff + index] = sum;
}

// A mask value (a float) as a position in a plane of out_plane cells, or -1.
inline int mask_position(const float m, const int out_plane)
{
    return m >= 0.0f && m < (float)out_plane && (float)(int)m == m ? (int)m : -1;
}

// Unpooling, in three passes so that, as in the host's sequential loop, the last input naming a
// position wins: winner = -1; winner[position] = max input index (integer atomic_max);
// y = x[winner] or 0. winner is a float buffer used as ints.
__kernel void unpool_clear(const int count, __global int* winner, const int winnerOff)
{
    const int index = get_global_id(0);
    if (index < count) winner[winnerOff + index] = -1;
}

__kernel void unpool_mark(const int count, const int in_plane, const int out_plane,
                          __global const float* mask, const int maskOff, __global int* winner, const int winnerOff)
{
    const int index = get_global_id(0);
    if (index >= count) return;
    const int at = mask_position(mask[maskOff + index], out_plane);
    if (at >= 0) atomic_max(winner + winnerOff + index / in_plane * out_plane + at, index);
}

__kernel void unpool_gather(const int count, __global const int* winner, const int winnerOff,
                            __global const float* x, const int xOff, __global float* y, const int yOff)
{
    const int index = get_global_id(0);
    if (index >= count) return;
    const int from = winner[winnerOff + index];
    y[yOff + index] = from >= 0 ? x[xOff + from] : 0.0f;
}

__kernel void unpool_backward(const int count, const int in_plane, const int out_plane,
                              __global const float* dy, const int dyOff, __global const float* mask, const int maskOff,
                              __global float* dx, const int dxOff)
{
    const int index = get_global_id(0);
    if (index >= count) return;
    const int at = mask_position(mask[maskOff + index], out_plane);
    dx[dxOff + index] = at >= 0 ? dy[dyOff + index / in_plane * out_plane + at] : 0.0f;
}
