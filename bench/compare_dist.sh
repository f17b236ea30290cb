#!/usr/bin/env bash
# Data-parallel training on one machine: 1 process x 2 threads against 2 processes x 1
# thread (c10d, Gloo over loopback), same global batch and data; prints samples/s of
# each, and the allreduce time per step of the distributed run.
# Usage: bench/compare_dist.sh [SUBSET] [EPOCHS]   (defaults 20000, 1; MNIST, mnist_cnn)
set -euo pipefail
cd "$(dirname "$0")/.."
subset="${1:-20000}" epochs="${2:-1}"
wmark=build/wmark
[ -x "$wmark" ] || { echo "build first: scripts/build.sh" >&2; exit 2; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
common=(train --dataset mnist --subset "$subset" --epochs "$epochs" --batch-size 64 --optimizer sgd --lr 0.05 --seed 7)

"$wmark" "${common[@]}" --threads 2 --out "$tmp/one.pt" --metrics "$tmp/one.json" >/dev/null 2>&1
MASTER_PORT=$((30000 + RANDOM % 10000)) scripts/launch-local.sh 2 "$wmark" "${common[@]}" --threads 1 \
  --out "$tmp/two.pt" --metrics "$tmp/two.json" >/dev/null 2>&1

/usr/bin/python3 - "$tmp/one.json" "$tmp/two.json" "$subset" <<'PY'
import json, sys
one, two = (json.load(open(p)) for p in sys.argv[1:3])
subset = int(sys.argv[3])
steps_per_rank = -(-subset // 64)
allreduce = sum(e.get("allreduce_s", 0) for e in two["history"])
epochs = len(two["history"])
train_s = sum(e["seconds"] for e in two["history"])
print(f"1 process x 2 threads : {one['samples_per_second']:8.0f} samples/s  test acc {one['test_accuracy']:.4f}")
print(f"2 processes x 1 thread: {two['samples_per_second']:8.0f} samples/s  test acc {two['test_accuracy']:.4f}"
      f"  ({two['samples_per_second'] / one['samples_per_second']:.2f}x)")
print(f"allreduce per step (rank 0): {1000 * allreduce / (epochs * steps_per_rank):.2f} ms"
      f" = {100 * allreduce / train_s:.1f}% of the step time; {steps_per_rank} steps per epoch")
PY
