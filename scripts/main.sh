#!/usr/bin/env bash
# The main job: install dependencies, build, then train on the default dataset
# (MNIST if found, else Debian's Fashion-MNIST) and print the test accuracy.
# Outputs go to ./out (replaced on each run).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh -DWMARK_BUILD_TESTS=OFF
mkdir -p out
build/wmark train --out out/model.pt --metrics out/train-metrics.json --force "$@"
