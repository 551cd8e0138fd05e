#!/usr/bin/env bash
# Train LeNet on Fashion-MNIST with Caffe's settings (the README's first command).
# Installs the dataset (Debian's dataset-fashion-mnist) when it is missing, builds the engine,
# and runs `engine train`; extra arguments go to `engine train` (e.g. --snapshot FILE).
set -euo pipefail
cd "$(dirname "$0")/../.."
if [ ! -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then
  echo "Fashion-MNIST is missing: installing Debian's dataset-fashion-mnist"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist
fi
log=$(mktemp)
if ! dotnet build EngineCli.csproj -c Release -o bin/engine --nologo > "$log" 2>&1; then
  cat "$log"; exit 1
fi
rm -f "$log"
exec bin/engine/engine train --solver nets/lenet/lenet_solver.prototxt "$@"
