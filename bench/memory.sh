#!/usr/bin/env bash
# Peak resident memory of our engine against PyTorch doing the same work, in one run:
#   forward+backward  `engine time --model NET` (one warm-up + N passes) against a PyTorch loop of
#                     zero_grad / forward / backward on the same layer shapes (bench/torch_memory.py);
#   training          `engine train` with SGD, momentum 0.9, weight decay (no test net) against
#                     PyTorch's SGD with the same settings (momentum buffers on both sides);
#   training + test   the same with a TEST net run every 2 iterations (the AlexNet solver's layout)
#                     against PyTorch evaluating one batch in eval mode under no_grad as often.
# Both sides are measured the same way: the peak resident set (ru_maxrss, i.e. VmHWM) of the
# child process, read by a small python wrapper; process start-up (the .NET runtime, `import
# torch`) is included, and each side's idle figure is printed too.
#
#   bash bench/memory.sh [--threads N] [--iterations 3] [--rounds 1] [--nets "alexnet"]
#
# Training rows are for AlexNet (batch 10); --nets adds forward+backward rows for lenet,
# cifar10_quick, resnet50. Needs Debian's python3-torch; the engine's tests do not.
set -euo pipefail
cd "$(dirname "$0")/.."
threads=$(nproc); iterations=3; rounds=1; nets="alexnet"
while [ $# -gt 0 ]; do
  case "$1" in
    --threads) threads=$2; shift 2 ;;
    --iterations) iterations=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --nets) nets=$2; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
py=/usr/bin/python3
$py -c "import torch" 2>/dev/null || { echo "bench/memory.sh needs PyTorch: apt-get install python3-torch" >&2; exit 1; }
dotnet build EngineCli.csproj -c Release -o bin/engine --nologo -v q >/dev/null
export OMP_NUM_THREADS=$threads OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=$threads

declare -A model=(
  [lenet]=nets/lenet/lenet_train_test.prototxt
  [cifar10_quick]=nets/cifar10_quick/cifar10_quick_train_test.prototxt
  [alexnet]=nets/alexnet/train_val.prototxt
  [resnet50]=nets/resnet50/train.prototxt
)
declare -A batch=([lenet]=64 [cifar10_quick]=100 [alexnet]=10 [resnet50]=8)
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

# Peak resident set of a command, in KiB: the largest ru_maxrss among the wrapper's children.
peak() {
  $py - "$@" <<'PY'
import resource, subprocess, sys
r = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
if r.returncode != 0:
    sys.exit(f"{' '.join(sys.argv[1:])} failed ({r.returncode}):\n{r.stderr[-2000:]}")
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
PY
}

# AlexNet training: Caffe's solver settings, a few iterations, no snapshots; with and without
# the TEST net (test_iter 2 batches every 2 iterations, and at the end).
solver() {
  cat <<SOLVER
net: "nets/alexnet/train_val.prototxt"
base_lr: 0.01 momentum: 0.9 weight_decay: 0.0005 lr_policy: "fixed"
display: 0
max_iter: $iterations
snapshot_after_train: false
random_seed: 1701
SOLVER
}
solver > "$tmp/train.prototxt"
{ solver; echo "test_iter: 2 test_interval: 2 test_initialization: false"; } > "$tmp/train_test.prototxt"

ours=(); torch=(); rows=()
add() { rows+=("$1"); ours+=("$2"); torch+=("$3"); }
for r in $(seq 1 "$rounds"); do
  i=0
  # Idle: the runtime alone (`engine --help`) and `import torch`.
  o=$(peak bin/engine/engine --help); t=$(peak $py -c "import torch")
  [ "$r" = 1 ] && add "idle process (runtime / import torch)" "" ""
  ours[$i]+="$o "; torch[$i]+="$t "; i=$((i + 1))
  for n in $nets; do
    o=$(peak bin/engine/engine time --model "${model[$n]}" --iterations "$iterations" --threads "$threads")
    t=$(peak $py bench/torch_memory.py "$n" fwdbwd "$iterations" "$threads")
    [ "$r" = 1 ] && add "$n (${batch[$n]}) forward+backward" "" ""
    ours[$i]+="$o "; torch[$i]+="$t "; i=$((i + 1))
  done
  o=$(peak bin/engine/engine train --solver "$tmp/train.prototxt" --threads "$threads")
  t=$(peak $py bench/torch_memory.py alexnet train "$iterations" "$threads")
  [ "$r" = 1 ] && add "alexnet (10) training, SGD" "" ""
  ours[$i]+="$o "; torch[$i]+="$t "; i=$((i + 1))
  o=$(peak bin/engine/engine train --solver "$tmp/train_test.prototxt" --threads "$threads")
  t=$(peak $py bench/torch_memory.py alexnet train-test "$iterations" "$threads")
  [ "$r" = 1 ] && add "alexnet (10) training + test" "" ""
  ours[$i]+="$o "; torch[$i]+="$t "; i=$((i + 1))
done

median() { tr ' ' '\n' | grep . | sort -g | awk '{a[NR] = $1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }
echo
echo "Machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(nproc) cores; threads $threads; $iterations iterations; $rounds round(s), medians"
printf "%-40s %12s %12s %14s\n" "peak resident memory (MiB)" "ours" "PyTorch" "ours/PyTorch"
for k in "${!rows[@]}"; do
  o=$(echo "${ours[$k]}" | median); t=$(echo "${torch[$k]}" | median)
  printf "%-40s %12.1f %12.1f %14.2f\n" "${rows[$k]}" "$(echo "$o" | awk '{print $1 / 1024}')" "$(echo "$t" | awk '{print $1 / 1024}')" "$(echo "$o $t" | awk '{print $1 / $2}')"
done
echo "(peak RSS of the whole process, start-up included; lower ratio is better)"
