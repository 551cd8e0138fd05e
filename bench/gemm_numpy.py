#!/usr/bin/python3
"""numpy (OpenBLAS) SGEMM timing for bench/gemm.sh.

usage: gemm_numpy.py SECONDS THREADS wall|cpu SHAPE...   with SHAPE = MxNxK[:NN|NT|TN|TT]
Prints "shape<TAB>threads<TAB>numpy<TAB>GFLOP/s" per shape: 2·m·n·k over the best time per call,
timed as GemmBench does (batches of ~2 ms of wall clock, or ~20 ms of CPU time; best batch over
SECONDS, and of at least 5 batches). With the CPU clock the time is the process's CPU time divided by THREADS, as gemm.sh
does for GemmBench. The thread count itself is set by the caller through OPENBLAS_NUM_THREADS /
OMP_NUM_THREADS.
"""
import sys
import time

import numpy as np


def main():
    seconds, threads, clock, shapes = float(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4:]
    if clock == "cpu":
        now, batch = (lambda: time.process_time() / int(threads)), 0.02
    else:
        now, batch = time.perf_counter, 0.002
    rng = np.random.default_rng(1)
    for shape in shapes:
        dims, _, op = shape.partition(":")
        m, n, k = (int(x) for x in dims.split("x"))
        op = (op or "NN") + "NN"
        # Stored as Sgemm stores them (row-major, k×m when A is transposed); .T is a free view.
        a = rng.random((k, m) if op[0] == "T" else (m, k), dtype=np.float32) - 0.5
        b = rng.random((n, k) if op[1] == "T" else (k, n), dtype=np.float32) - 0.5
        opa = a.T if op[0] == "T" else a
        opb = b.T if op[1] == "T" else b
        c = np.empty((m, n), dtype=np.float32)
        for _ in range(3):
            np.matmul(opa, opb, out=c)
        reps = 1
        while True:
            t0 = now()
            for _ in range(reps):
                np.matmul(opa, opb, out=c)
            if now() - t0 > batch:
                break
            reps *= 2
        best, batches = float("inf"), 0
        start = time.perf_counter()
        while time.perf_counter() - start < seconds or batches < 5:  # at least 5 batches, as GemmBench
            t0 = now()
            for _ in range(reps):
                np.matmul(opa, opb, out=c)
            best = min(best, (now() - t0) / reps)
            batches += 1
        print(f"{shape}\t{threads}\tnumpy\t{2.0 * m * n * k / best / 1e9:.2f}", flush=True)


if __name__ == "__main__":
    main()
