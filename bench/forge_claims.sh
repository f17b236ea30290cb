#!/usr/bin/env bash
# The forgery measurement of docs/results.md (issue #17): one victim trained in Python
# with Debian's python3-torch and saved as TorchScript, then bench_forge against it and
# the victims it trains itself.
# Usage: bench/forge_claims.sh [victims=10] [epsilons=0.1,0.2,0.3] [forge_seeds=3]
set -euo pipefail
cd "$(dirname "$0")/.."
build=${WMARK_BUILD_DIR:-build}
data=${WMARK_DATA:-../shared/data}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
/usr/bin/python3 bench/train_python.py 1 2 64 "$data" 30000 --torchscript="$work/python_victim.pt" --seed=7 \
  | grep -v "^python epoch"
"$build/bench/bench_forge" "${1:-10}" "${2:-0.1,0.2,0.3}" "${3:-3}" 100 "$data" 0 "$work/python_victim.pt"
