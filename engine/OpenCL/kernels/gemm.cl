// C = alpha * op(A) * op(B) + beta * C for row-major matrices with leading dimensions (row
// strides) and element offsets: op(A) is M x K, op(B) is K x N, C is M x N.
//
// Tiling: a work-group of RTSN x RTSM work-items computes a TSM x TSN block of C. Each step
// stages a TSM x TSK slice of op(A) and a TSK x TSN slice of op(B) in local memory, and every
// work-item accumulates WPTM x WPTN outputs in registers (register blocking). Work-item (tn, tm)
// owns rows tm + r*RTSM and columns tn + c*RTSN, so neighbouring work-items touch neighbouring
// columns of C (coalesced) and neighbouring local-memory words. Edges load zeros and skip stores.
// A third ND-range dimension runs a batch of products whose A, B and C start strideA, strideB,
// strideC floats apart (stride 0: the same matrix for every product).
// The tile sizes are build options so the host can shrink them for devices with small
// work-groups.

#ifndef TSM
#define TSM 64
#endif
#ifndef TSN
#define TSN 64
#endif
#ifndef TSK
#define TSK 16
#endif
#ifndef WPTM
#define WPTM 4
#endif
#ifndef WPTN
#define WPTN 4
#endif
#define RTSM (TSM / WPTM)
#define RTSN (TSN / WPTN)
#define THREADS (RTSM * RTSN)

inline void gemm_tile(const int ta, const int tb, const int M, const int N, const int K, const float alpha,
                      __global const float* A, const int lda, __global const float* B, const int ldb,
                      const float beta, __global float* C, const int ldc,
                      __local float* As, __local float* Bs)
{
    const int tn = get_local_id(0), tm = get_local_id(1);
    const int tid = tm * RTSN + tn;
    const int row0 = get_group_id(1) * TSM, col0 = get_group_id(0) * TSN;

    float acc[WPTM][WPTN];
    for (int r = 0; r < WPTM; r++)
        for (int c = 0; c < WPTN; c++) acc[r][c] = 0.0f;

    for (int k0 = 0; k0 < K; k0 += TSK) {
        // op(A) slice -> As[p * TSM + i]; consecutive work-items read consecutive addresses.
        for (int idx = tid; idx < TSM * TSK; idx += THREADS) {
            int i, p;
            if (ta) { i = idx % TSM; p = idx / TSM; } else { p = idx % TSK; i = idx / TSK; }
            const int gi = row0 + i, gp = k0 + p;
            float v = 0.0f;
            if (gi < M && gp < K) v = ta ? A[gp * lda + gi] : A[gi * lda + gp];
            As[p * TSM + i] = v;
        }
        // op(B) slice -> Bs[p * TSN + j].
        for (int idx = tid; idx < TSK * TSN; idx += THREADS) {
            int j, p;
            if (tb) { p = idx % TSK; j = idx / TSK; } else { j = idx % TSN; p = idx / TSN; }
            const int gj = col0 + j, gp = k0 + p;
            float v = 0.0f;
            if (gj < N && gp < K) v = tb ? B[gj * ldb + gp] : B[gp * ldb + gj];
            Bs[p * TSN + j] = v;
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        for (int p = 0; p < TSK; p++) {
            float b[WPTN];
            for (int c = 0; c < WPTN; c++) b[c] = Bs[p * TSN + tn + c * RTSN];
            for (int r = 0; r < WPTM; r++) {
                const float a = As[p * TSM + tm + r * RTSM];
                for (int c = 0; c < WPTN; c++) acc[r][c] = mad(a, b[c], acc[r][c]);
            }
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }

    for (int r = 0; r < WPTM; r++) {
        const int i = row0 + tm + r * RTSM;
        if (i >= M) continue;
        for (int c = 0; c < WPTN; c++) {
            const int j = col0 + tn + c * RTSN;
            if (j >= N) continue;
            __global float* out = C + i * ldc + j;
            // beta == 0 never reads C (it may hold NaN), as BLAS defines.
            *out = beta == 0.0f ? alpha * acc[r][c] : alpha * acc[r][c] + beta * *out;
        }
    }
}

#define SGEMM_KERNEL(NAME, TA, TB)                                                                   \
__kernel __attribute__((reqd_work_group_size(RTSN, RTSM, 1)))                                        \
void NAME(const int M, const int N, const int K, const float alpha,                                  \
          __global const float* A, const int aOff, const int lda, const int strideA,                 \
          __global const float* B, const int bOff, const int ldb, const int strideB,                 \
          const float beta, __global float* C, const int cOff, const int ldc, const int strideC)     \
{                                                                                                    \
    __local float As[TSK * TSM];                                                                     \
    __local float Bs[TSK * TSN];                                                                     \
    const int z = get_group_id(2);                                                                   \
    gemm_tile(TA, TB, M, N, K, alpha, A + aOff + z * strideA, lda, B + bOff + z * strideB, ldb,      \
              beta, C + cOff + z * strideC, ldc, As, Bs);                                            \
}

SGEMM_KERNEL(sgemm_nn, 0, 0)
SGEMM_KERNEL(sgemm_nt, 0, 1)
SGEMM_KERNEL(sgemm_tn, 1, 0)
SGEMM_KERNEL(sgemm_tt, 1, 1)
