#!/bin/bash
# GEMM table: our Sgemm (bench/GemmBench) against numpy/OpenBLAS with the same thread count, and
# both as a fraction of the FP32 peak measured by an FMA-throughput loop in the same run.
#
#   bench/gemm.sh [ROUNDS] [SECONDS]        (defaults 3 rounds, 0.4 s per shape and program)
#   SHAPES="2048x2048x2048 64x500x800:NT" THREADS="1 2" CLOCK=cpu bench/gemm.sh
#
# Each figure is the best of batches of calls over SECONDS (at least 5 batches). CLOCK=wall
# (default) times calls by the wall clock (batches of ~2 ms). CLOCK=cpu times them by
# the process's CPU time divided by the thread count, for a machine that other jobs keep busy:
# it discounts time slices lost to them (not their cache pollution), and counts spinning workers
# as busy (OpenBLAS's, and ours briefly).
#
# Each round runs, for each thread count: the peak loop, GemmBench, numpy, so the programs see
# the same machine load; the table shows medians over the rounds. numpy is Debian's python3-numpy
# on /usr/bin/python3 (with OpenBLAS: apt-get install libopenblas0-pthread); OPENBLAS_CORETYPE
# and OPENBLAS_L2_SIZE are unset for it so that OpenBLAS picks its own kernel.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-3}
SECONDS_PER=${2:-0.4}
THREADS=${THREADS:-"1 2"}
CLOCK=${CLOCK:-wall}
# Squares; LeNet / CIFAR-10 quick / AlexNet / ResNet-50 convolutions as im2col products
# (M = out channels, N = out h·w, K = in channels·kh·kw), per image and batch-folded, with the
# backward products (weights: A·Bᵀ, data: Aᵀ·B); LeNet's ip1 forward and backward.
SHAPES=${SHAPES:-"2048x2048x2048 1024x1024x1024 \
50x64x500 50x4096x500 50x500x64:NT 500x64x50:TN \
32x256x800 32x6400x800 32x800x256:NT 800x256x32:TN \
384x169x2304 384x2304x169:NT 2304x169x384:TN \
64x3136x576 64x576x3136:NT 576x3136x64:TN \
64x500x800:NT 500x800x64:TN 64x800x500"}

dotnet build bench/GemmBench -c Release -v q -nologo >/dev/null
BENCH="dotnet bench/GemmBench/bin/Release/net10.0/GemmBench.dll"
/usr/bin/python3 -c 'import numpy' || { echo "needs python3-numpy on /usr/bin/python3" >&2; exit 1; }

OUT=$(mktemp)
trap 'rm -f "$OUT"' EXIT
SHAPE_ARGS=()
for s in $SHAPES; do SHAPE_ARGS+=(--shape "$s"); done
for r in $(seq "$ROUNDS"); do
  echo "round $r/$ROUNDS" >&2
  for t in $THREADS; do
    $BENCH --clock "$CLOCK" --threads "$t" --seconds 1 --peak | awk -v t="$t" '{print "fma\t" t "\tpeak\t" $3}' >>"$OUT"
    # GemmBench's CPU clock gives GFLOP/s per busy core: scale to t cores like the others.
    $BENCH --tsv --clock "$CLOCK" --threads "$t" --seconds "$SECONDS_PER" "${SHAPE_ARGS[@]}" |
      awk -F'\t' -v OFS='\t' -v t="$t" -v cpu="$([ "$CLOCK" = cpu ] && echo 1 || echo 0)" \
        '{$3="ours"; if (cpu) $4=sprintf("%.2f", $4*t); print}' >>"$OUT"
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OPENBLAS_NUM_THREADS="$t" OMP_NUM_THREADS="$t" \
      /usr/bin/python3 bench/gemm_numpy.py "$SECONDS_PER" "$t" "$CLOCK" $SHAPES >>"$OUT"
  done
done
echo "clock: $CLOCK"
/usr/bin/python3 bench/gemm_table.py "$OUT"
