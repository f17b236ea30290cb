#!/usr/bin/env bash
# Verification latency per architecture (issue #22): for mnist_cnn (MNIST), cifar_cnn
# and resnet18 (CIFAR-10), embeds a content trigger set of 100 and of 1,000 triggers
# into a model trained briefly on a small subset (the latency does not depend on how
# well the model learnt), then runs bench_verify on each: cold (first call) and warm,
# in process and over loopback (Open Inference Protocol V2 JSON and binary, V1), with the
# key's derivation checked as `wmark verify` checks it (paid once, by the cold run).
# Warm runs: `repeat` for keys of 100 triggers, a tenth of it (at least 3) for 1,000.
# Usage: [ARCHS="mnist_cnn cifar_cnn resnet18"] bench/verify_latency.sh [repeat=30] [threads=nproc]
#        [work_dir=a fresh temporary one; models and keys found there are reused]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
build="${WMARK_BUILD_DIR:-$here/../build}"
data="${WMARK_DATA:-$here/../../shared/data}"
repeat="${1:-30}"; threads="${2:-$(nproc)}"
work="${3:-$(mktemp -d)}"
mkdir -p "$work"
for arch in ${ARCHS:-mnist_cnn cifar_cnn resnet18}; do
  dataset=cifar10; [ "$arch" = mnist_cnn ] && dataset=mnist
  for triggers in 100 1000; do
    model="$work/$arch-$triggers.pt" key="$work/$arch-$triggers.wmk"
    if [ ! -f "$model" ]; then
      "$build/wmark" --log-level warn embed --method trigger-set --trigger content --dataset "$dataset" \
        --data-dir "$data" --model "$arch" --subset 1000 --epochs 1 --trigger-size "$triggers" \
        --out "$model" --key-out "$key" >/dev/null
    fi
    runs=$((repeat * 100 / triggers)); [ "$runs" -lt 3 ] && runs=3
    echo "== $arch, $triggers triggers, $threads threads"
    "$build/bench/bench_verify" --model "$model" --key "$key" --repeat "$runs" --threads "$threads" --data-dir "$data"
  done
done
