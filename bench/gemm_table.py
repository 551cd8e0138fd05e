#!/usr/bin/python3
"""Reads the lines bench/gemm.sh collected ("shape<TAB>threads<TAB>who<TAB>GFLOP/s", who = ours,
numpy or peak) and prints one table of medians: ours, numpy/OpenBLAS, their ratio, and both as a
percentage of the FP32 peak measured by the FMA loop with the same thread count."""
import statistics
import sys
from collections import defaultdict


def main():
    samples = defaultdict(list)
    order = []
    for line in open(sys.argv[1]):
        parts = line.strip().split("\t")
        if len(parts) != 4:
            continue
        shape, threads, who, value = parts
        key = (shape, int(threads))
        if who != "peak" and key not in order:
            order.append(key)
        samples[(shape, int(threads), who)].append(float(value))
    med = {key: statistics.median(v) for key, v in samples.items()}
    rounds = max((len(v) for v in samples.values()), default=0)
    print(f"SGEMM, GFLOP/s, medians of {rounds} interleaved rounds (ratio = ours / numpy)")
    for t in sorted({t for _, t in order}):
        peak = med.get(("fma", t, "peak"))
        if peak:
            print(f"  FP32 peak, {t} thread(s), FMA loop: {peak:.1f} GFLOP/s")
    print(f"{'shape (MxNxK:op)':<22} {'thr':>3} {'ours':>7} {'numpy':>7} {'ratio':>6} {'ours%pk':>8} {'np%pk':>6}")
    for shape, t in sorted(order, key=lambda x: (x[1], order.index(x))):
        ours = med.get((shape, t, "ours"))
        ref = med.get((shape, t, "numpy"))
        peak = med.get(("fma", t, "peak"))
        if ours is None or ref is None:
            continue
        pk = f"{100 * ours / peak:7.1f}%" if peak else "      -"
        npk = f"{100 * ref / peak:5.1f}%" if peak else "     -"
        print(f"{shape:<22} {t:>3} {ours:7.1f} {ref:7.1f} {ours / ref:6.2f} {pk} {npk}")


if __name__ == "__main__":
    main()
