// C = alpha * op(A) * op(B) + beta * C without local memory, for OpenCL devices that are CPUs
// (PoCL). Such a driver runs a work-group as a loop over its work-items and vectorises that loop
// along dimension 0; the tiled kernel of gemm.cl keeps each work-item's accumulators across its
// barriers, which a CPU driver must spill to memory. Here work-item (j, i) computes rows
// i*ROWS .. i*ROWS+ROWS-1 of column j: consecutive work-items read consecutive columns of op(B)
// (one vector load) and share the broadcast values of op(A). A third dimension runs a batch
// (strides as in gemm.cl). beta == 0 never reads C.

#define ROWS 4

#define SGEMM_DIRECT(NAME, TA, TB)                                                                   \
__kernel void NAME(const int M, const int N, const int K, const float alpha,                         \
                   __global const float* A, const int aOff, const int lda, const int strideA,        \
                   __global const float* B, const int bOff, const int ldb, const int strideB,        \
                   const float beta, __global float* C, const int cOff, const int ldc, const int strideC) \
{                                                                                                    \
    const int j = get_global_id(0), i0 = get_global_id(1) * ROWS, z = get_global_id(2);            \
    if (j >= N || i0 >= M) return;                                                                   \
    A += aOff + z * strideA; B += bOff + z * strideB; C += cOff + z * strideC;                       \
    const int rows = min(ROWS, M - i0);                                                              \
    float acc[ROWS];                                                                                 \
    for (int r = 0; r < ROWS; r++) acc[r] = 0.0f;                                                    \
    for (int p = 0; p < K; p++) {                                                                    \
        const float b = TB ? B[j * ldb + p] : B[p * ldb + j];                                        \
        for (int r = 0; r < ROWS; r++) {                                                             \
            const int i = min(i0 + r, M - 1);                                                        \
            const float a = TA ? A[p * lda + i] : A[i * lda + p];                                    \
            acc[r] = mad(a, b, acc[r]);                                                              \
        }                                                                                            \
    }                                                                                                \
    for (int r = 0; r < rows; r++) {                                                                 \
        __global float* out = C + (i0 + r) * ldc + j;                                                \
        *out = beta == 0.0f ? alpha * acc[r] : alpha * acc[r] + beta * *out;                         \
    }                                                                                                \
}

SGEMM_DIRECT(sgemm_direct_nn, 0, 0)
SGEMM_DIRECT(sgemm_direct_nt, 0, 1)
SGEMM_DIRECT(sgemm_direct_tn, 1, 0)
SGEMM_DIRECT(sgemm_direct_tt, 1, 1)
