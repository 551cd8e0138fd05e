// Reductions over a batch of same-sized slices (the per-image partial products of a layer).

// dst[i] += src[0·length + i] + src[1·length + i] + … (count slices, added in order).
__kernel void add_slices(const int count, const int length, __global const float* src, const int srcOff,
                         __global float* dst, const int dstOff)
{
    const int i = get_global_id(0);
    if (i >= length) return;
    float s = dst[dstOff + i];
    for (int b = 0; b < count; b++) s += src[srcOff + b * length + i];
    dst[dstOff + i] = s;
}
