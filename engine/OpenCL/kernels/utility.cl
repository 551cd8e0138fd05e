// The utility layers' kernels (Concat, Slice, Crop, Tile, Eltwise, Reduction, ArgMax,
// BatchReindex, Embed, Filter). One work-item per output element unless said otherwise; each
// buffer is addressed from its view's offset.

// dst[b*dstBlock + r*dstRow + c] (+)= src[b*srcBlock + r*srcRow + c], n = blocks*rows*cols.
// The destination elements are distinct, so accumulating needs no atomics.
__kernel void copy_blocks(const int n, const int rows, const int cols,
                          __global const float* src, const int srcOff, const int srcBlock, const int srcRow,
                          __global float* dst, const int dstOff, const int dstBlock, const int dstRow,
                          const int accumulate)
{
    const int i = get_global_id(0);
    if (i >= n) return;
    const int c = i % cols;
    const int t = i / cols;
    const int r = t % rows;
    const int b = t / rows;
    const float v = src[srcOff + b * srcBlock + r * srcRow + c];
    const int d = dstOff + b * dstBlock + r * dstRow + c;
    dst[d] = accumulate ? dst[d] + v : v;
}

__kernel void div_map(const int n, __global const float* a, const int aOff, __global const float* b, const int bOff,
                      __global float* y, const int yOff)
{
    const int i = get_global_id(0);
    if (i < n) y[yOff + i] = a[aOff + i] / b[bOff + i];
}

// Eltwise MAX, one bottom at a time (see IBackend.MaxArgForward). index 1: a = bottom 0,
// b = bottom 1, ties to b. index >= 2: a is the running maximum (may be y), b the next bottom,
// which wins only when strictly larger.
__kernel void max_arg_forward(const int n, const int index,
                              __global const float* a, const int aOff, __global const float* b, const int bOff,
                              __global float* y, const int yOff, __global float* arg, const int argOff)
{
    const int i = get_global_id(0);
    if (i >= n) return;
    const float va = a[aOff + i];
    const float vb = b[bOff + i];
    if (index == 1)
    {
        const int takeA = va > vb;
        y[yOff + i] = takeA ? va : vb;
        arg[argOff + i] = takeA ? 0.0f : 1.0f;
    }
    else if (vb > va)
    {
        y[yOff + i] = vb;
        arg[argOff + i] = (float)index;
    }
    else y[yOff + i] = va;
}

__kernel void max_arg_backward(const int n, const int index, __global const float* arg, const int argOff,
                               __global const float* dy, const int dyOff, __global float* dx, const int dxOff)
{
    const int i = get_global_id(0);
    if (i < n) dx[dxOff + i] = arg[argOff + i] == (float)index ? dy[dyOff + i] : 0.0f;
}

// One work-group per row: each work-item sums a strided part of the row, then a tree in local
// memory. The local size is a power of two of at most REDUCE_MAX_GROUP (set by the host).
#define REDUCE_MAX_GROUP 128

// op: 0 sum, 1 sum of |x|, 2 sum of x^2.
__kernel void reduce_rows(const int dim, const int op, const float scale,
                          __global const float* x, const int xOff, __global float* y, const int yOff)
{
    __local float partial[REDUCE_MAX_GROUP];
    const int row = get_group_id(0);
    const int lid = get_local_id(0);
    const int size = get_local_size(0);
    __global const float* xr = x + xOff + row * dim;
    float acc = 0.0f;
    for (int i = lid; i < dim; i += size)
    {
        const float v = xr[i];
        acc += op == 0 ? v : op == 1 ? fabs(v) : v * v;
    }
    partial[lid] = acc;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int s = size / 2; s > 0; s >>= 1)
    {
        if (lid < s) partial[lid] += partial[lid + s];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (lid == 0) y[yOff + row] = partial[0] * scale;
}

// dx = scale*dy[row] times 1, sign(x) or 2x; n = rows*dim.
__kernel void reduce_rows_backward(const int n, const int dim, const int op, const float scale,
                                   __global const float* x, const int xOff, __global const float* dy, const int dyOff,
                                   __global float* dx, const int dxOff)
{
    const int i = get_global_id(0);
    if (i >= n) return;
    const float g = dy[dyOff + i / dim] * scale;
    const float v = x[xOff + i];
    float d;
    if (op == 1) d = v > 0.0f ? g : v < 0.0f ? -g : 0.0f;
    else if (op == 2) d = v * (2.0f * g);
    else d = g;
    dx[dxOff + i] = d;
}

// The k largest along the middle axis of outer x dim x inner, one work-item per (outer, inner)
// line: k passes, each taking the largest (value, index) below the previous pick (ties to the
// larger index). Per outer index: a k x inner block of indices, then one of values.
__kernel void top_k(const int n, const int dim, const int inner, const int k,
                    __global const float* x, const int xOff, __global float* y, const int yOff,
                    const int writeIndices, const int writeValues)
{
    const int i = get_global_id(0);
    if (i >= n) return;
    const int o = i / inner;
    const int s = i % inner;
    __global const float* line = x + xOff + o * dim * inner + s;
    const int block = k * inner;
    __global float* out = y + yOff + o * block * (writeIndices + writeValues) + s;
    float prevValue = 0.0f;
    int prevIndex = -1;
    for (int j = 0; j < k; j++)
    {
        int best = -1;
        float bestValue = 0.0f;
        for (int d = 0; d < dim; d++)
        {
            const float v = line[d * inner];
            if (prevIndex >= 0 && !(v < prevValue || (v == prevValue && d < prevIndex))) continue;
            if (best < 0 || v > bestValue || (v == bestValue && d > best)) { best = d; bestValue = v; }
        }
        if (writeIndices) out[j * inner] = (float)best;
        if (writeValues) out[(writeIndices ? block : 0) + j * inner] = bestValue;
        prevValue = bestValue;
        prevIndex = best;
    }
}

// dst row k = src row idx[k]; an index that is not an integer in [0, srcRows) gives NaN.
// n = (number of indices)*inner.
__kernel void gather_rows(const int n, const int inner, const int srcRows,
                          __global const float* src, const int srcOff, __global const float* idx, const int idxOff,
                          __global float* dst, const int dstOff)
{
    const int i = get_global_id(0);
    if (i >= n) return;
    const float f = idx[idxOff + i / inner];
    if (f >= 0.0f && f < (float)srcRows && f == floor(f))
        dst[dstOff + i] = src[srcOff + (int)f * inner + i % inner];
    else
        dst[dstOff + i] = NAN;
}

// dst row r (+)= sum over k (increasing) with idx[k] == r of src row k; n = dstRows*inner.
// Each destination element scans the indices: no atomics.
__kernel void scatter_add_rows(const int n, const int inner, const int count,
                               __global const float* idx, const int idxOff, __global const float* src, const int srcOff,
                               __global float* dst, const int dstOff, const int accumulate)
{
    const int i = get_global_id(0);
    if (i >= n) return;
    const float r = (float)(i / inner);
    const int c = i % inner;
    float acc = accumulate ? dst[dstOff + i] : 0.0f;
    for (int k = 0; k < count; k++)
        if (idx[idxOff + k] == r) acc += src[srcOff + k * inner + c];
    dst[dstOff + i] = acc;
}
