#!/usr/bin/env bash
# The main job: install dependencies, build, then on the default dataset (MNIST if
# found, else Debian's Fashion-MNIST): train a clean model, train a model watermarked
# with a content trigger, verify both against the key, print both decisions; then
# prune the watermarked model as a thief might and report whether the mark survives.
# Exit 0 only if the watermarked model verifies and the clean one does not.
# Outputs go to ./out (replaced on each run; out/key.wmk is the secret key).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh --target wmark_cli   # only the CLI: the job needs nothing else
mkdir -p out
wmark=build/wmark

echo "== training a clean model"
$wmark train --out out/clean.pt --metrics out/clean-metrics.json --force "$@"
echo "== training a watermarked model (content trigger)"
$wmark embed --trigger content --out out/watermarked.pt --key-out out/key.wmk \
  --metrics out/embed-metrics.json --force "$@"

echo "== a thief prunes half of the watermarked model's weights (the input is not modified)"
$wmark attack prune --model out/watermarked.pt --key out/key.wmk --rate 0.5 --out out/pruned.pt \
  --report out/attack-prune.json --force

set +e
$wmark verify --model out/watermarked.pt --key out/key.wmk --report out/verify-watermarked.json --force
marked=$?
$wmark verify --model out/clean.pt --key out/key.wmk --report out/verify-clean.json --force
clean=$?
set -e
echo "== decisions"
echo "watermarked model: $([ $marked -eq 0 ] && echo 'ownership VERIFIED' || echo "not verified (exit $marked)")"
echo "clean model:       $([ $clean -eq 1 ] && echo 'not verified (correct)' || echo "UNEXPECTED (exit $clean)")"
[ $marked -eq 0 ] && [ $clean -eq 1 ]
