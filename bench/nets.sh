#!/usr/bin/env bash
# Forward+backward time per iteration of the nets in nets/, ours (`engine time`) against PyTorch
# (bench/torch_nets.py: the same layer shapes), run interleaved in one session, then LeNet training
# throughput. Prints a table of medians and the ratio ours/PyTorch (lower is better).
#
#   bash bench/nets.sh [--rounds 3] [--threads N] [--iterations 10] [--nets "lenet cifar10_quick alexnet resnet50"]
#
# Needs Debian's python3-torch (apt-get install python3-torch); the engine's tests do not.
# Our figure excludes the data layer's forward (PyTorch's loop is handed a ready tensor);
# both sides time one warm-up pass first and then the same number of iterations.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=3; threads=$(nproc); iterations=10; nets="lenet cifar10_quick alexnet resnet50"; train_iters=300
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) rounds=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --iterations) iterations=$2; shift 2 ;;
    --nets) nets=$2; shift 2 ;;
    --train-iterations) train_iters=$2; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
py=/usr/bin/python3
$py -c "import torch" 2>/dev/null || { echo "bench/nets.sh needs PyTorch: apt-get install python3-torch" >&2; exit 1; }
dotnet build EngineCli.csproj -c Release -o bin/engine --nologo -v q >/dev/null
# PyTorch: OpenMP threads = ours; OpenBLAS single-threaded so the two pools do not fight (see the
# reference notes: OpenBLAS's default doubles the threads and slows PyTorch down).
export OMP_NUM_THREADS=$threads OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=$threads

declare -A model=(
  [lenet]=nets/lenet/lenet_train_test.prototxt
  [cifar10_quick]=nets/cifar10_quick/cifar10_quick_train_test.prototxt
  [alexnet]=nets/alexnet/train_val.prototxt
  [resnet50]=nets/resnet50/train.prototxt
)
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

ours_once() {  # prints ms per forward+backward, without the data layer's forward
  bin/engine/engine time --model "$1" --iterations "$iterations" --threads "$threads" 2>&1 | awk '
    /Average Forward-Backward:/ { for (i = 1; i <= NF; i++) if ($i == "Forward-Backward:") total = $(i + 1) }
    /\tforward: / && !seen { seen = 1; for (i = 1; i <= NF; i++) if ($i == "forward:") data = $(i + 1) }
    END { if (total == "") exit 1; printf "%.3f\n", total - data }'
}
torch_once() { $py bench/torch_nets.py "$1" "$iterations" "$threads" | awk '{print $2}'; }
median() { sort -g | awk '{a[NR] = $1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }

for r in $(seq 1 "$rounds"); do
  for n in $nets; do
    ours_once "${model[$n]}" >> "$tmp/$n.ours"
    torch_once "$n" >> "$tmp/$n.torch"
  done
done

# LeNet training throughput: Caffe's solver on Fashion-MNIST (no test passes), against a PyTorch
# SGD loop over the same data held in memory.
cat > "$tmp/solver.prototxt" <<SOLVER
net: "nets/lenet/lenet_train_test.prototxt"
test_iter: 0
test_interval: 1000000
test_initialization: false
base_lr: 0.01 momentum: 0.9 weight_decay: 0.0005 lr_policy: "inv" gamma: 0.0001 power: 0.75
display: $train_iters
max_iter: $train_iters
snapshot_after_train: false
SOLVER
train_ours() {
  local start end
  start=$(date +%s.%N)
  bin/engine/engine train --solver "$tmp/solver.prototxt" --threads "$threads" >/dev/null 2>&1
  end=$(date +%s.%N)
  echo "$start $end" | awk -v n="$train_iters" '{printf "%.1f\n", n * 64 / ($2 - $1)}'
}
for r in $(seq 1 "$rounds"); do
  train_ours >> "$tmp/train.ours"
  $py bench/torch_nets.py train "$train_iters" "$threads" | awk '{print $2}' >> "$tmp/train.torch"
done

echo
echo "Machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(nproc) cores; threads $threads; $rounds interleaved rounds, medians"
printf "%-28s %12s %12s %14s\n" "net (batch)" "ours ms" "PyTorch ms" "ours/PyTorch"
declare -A batch=([lenet]=64 [cifar10_quick]=100 [alexnet]=10 [resnet50]=8)
for n in $nets; do
  o=$(median < "$tmp/$n.ours"); t=$(median < "$tmp/$n.torch")
  printf "%-28s %12.2f %12.2f %14.2f\n" "$n (${batch[$n]}) fwd+bwd" "$o" "$t" "$(echo "$o $t" | awk '{print $1 / $2}')"
done
o=$(median < "$tmp/train.ours"); t=$(median < "$tmp/train.torch")
printf "%-28s %12.0f %12.0f %14.2f\n" "LeNet training img/s" "$o" "$t" "$(echo "$o $t" | awk '{print $1 / $2}')"
echo "(fwd+bwd: lower ratio is better; training img/s: higher ratio is better; ours includes process start-up and data reading)"
