#!/bin/bash
# A/B of two revisions' GEMM on one shape: builds bench/GemmBench at each revision (git worktrees
# in a temporary folder), then alternates the two builds round after round, so that both see the
# same machine load, and prints the median and best GFLOP/s of each (CPU clock: see gemm.sh).
#
#   bench/gemm_ab.sh REV_A REV_B [SHAPE] [THREADS] [ROUNDS] [SECONDS]
#   bench/gemm_ab.sh HEAD~1 HEAD 2048x2048x2048 1 8 3
#   bench/gemm_ab.sh main WORKTREE 64x3136x576      (WORKTREE: the working tree, uncommitted changes included)
#
# On a shared VM single runs move by ±10%; trust a difference only when it shows in both the
# median and the best of many rounds.
set -euo pipefail
cd "$(dirname "$0")/.."
A=$1; B=$2; SHAPE=${3:-2048x2048x2048}; THREADS=${4:-1}; ROUNDS=${5:-8}; SECS=${6:-3}
tmp=$(mktemp -d)
trap 'git worktree remove --force "$tmp/wa" 2>/dev/null || true; git worktree remove --force "$tmp/wb" 2>/dev/null || true; rm -rf "$tmp"' EXIT

build() {  # build REV DIR -> GemmBench.dll in DIR/out
  if [ "$1" = WORKTREE ]; then
    dotnet build bench/GemmBench -c Release -o "$2/out" -v q -nologo >/dev/null
  else
    git worktree add -q --detach "$2" "$1"
    (cd "$2" && dotnet build bench/GemmBench -c Release -o "$2/out" -v q -nologo >/dev/null)
  fi
}
build "$A" "$tmp/wa"
build "$B" "$tmp/wb"
for r in $(seq "$ROUNDS"); do
  for side in a b; do
    v=$(dotnet "$tmp/w$side/out/GemmBench.dll" --clock cpu --threads "$THREADS" --seconds "$SECS" --tsv --shape "$SHAPE" | awk -F'\t' '{print $4}')
    echo -e "$side\t$v" >> "$tmp/results"
  done
done
/usr/bin/python3 - "$tmp/results" "$A" "$B" "$SHAPE" "$THREADS" <<'PY'
import statistics, sys
runs = {"a": [], "b": []}
for line in open(sys.argv[1]):
    side, value = line.split()
    runs[side].append(float(value))
print(f"{sys.argv[4]}, {sys.argv[5]} thread(s), GFLOP/s per core, {len(runs['a'])} alternating rounds")
for side, name in (("a", sys.argv[2]), ("b", sys.argv[3])):
    v = runs[side]
    print(f"  {name:12s} median {statistics.median(v):6.1f}  best {max(v):6.1f}  all {' '.join(f'{x:.1f}' for x in v)}")
PY
