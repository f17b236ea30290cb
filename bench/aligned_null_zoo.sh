#!/bin/bash
# How much agreement unit alignment alone buys an innocent model: reads every white-box
# key against every model file given (none of them a copy of the key's marked model) and
# prints one JSON line per pair: plain and aligned matches, bits, p-value, decision.
# Usage: bench/aligned_null_zoo.sh [--wmark BIN] KEY.wmk... -- MODEL.pt...
# Summarise, e.g.: ... | jq -s 'group_by(.key) | map({key: .[0].key, n: length,
#   aligned_max: (map(.aligned) | max), plain_max: (map(.plain) | max)})'
set -euo pipefail
wmark=build/wmark
if [ "${1:-}" = "--wmark" ]; then wmark=$2; shift 2; fi
keys=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do keys+=("$1"); shift; done
[ $# -gt 0 ] || { echo "usage: $0 [--wmark BIN] KEY.wmk... -- MODEL.pt..." >&2; exit 2; }
shift
[ ${#keys[@]} -gt 0 ] && [ $# -gt 0 ] || { echo "usage: $0 [--wmark BIN] KEY.wmk... -- MODEL.pt..." >&2; exit 2; }
report=$(mktemp -d)/report.json
trap 'rm -rf "$(dirname "$report")"' EXIT
for key in "${keys[@]}"; do
  for model in "$@"; do
    rm -f "$report"
    # Exit code 1 is "not verified"; only 2 (an error) stops the run.
    "$wmark" verify --model "$model" --key "$key" --threads 1 --report "$report" > /dev/null || [ $? -eq 1 ]
    jq -c --arg key "$key" --arg model "$model" '{key: $key, model: $model, model_sha256, verified,
      bits: .queries, plain: .unit_alignment.plain_matches, aligned: .unit_alignment.aligned_matches,
      decided_on: .unit_alignment.decided_on, inverted: (.bits_inverted // false), log10_p: .log10_p_value}' "$report"
  done
done
