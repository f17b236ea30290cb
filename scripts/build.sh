#!/usr/bin/env bash
# Configures wmark into ./build (Release) and builds it.
# Usage: scripts/build.sh [--target T]... [-DOPTION=VALUE]...
set -euo pipefail
cd "$(dirname "$0")/.."
targets=() options=()
while [ $# -gt 0 ]; do
  case "$1" in
    --target) targets+=(--target "$2"); shift 2 ;;
    *) options+=("$1"); shift ;;
  esac
done
# Ninja when present: it rebuilds only the commands that changed, where Make rebuilds
# every object (and the precompiled header) whenever a source is added to a target.
generator=()
if [ ! -f build/CMakeCache.txt ] && command -v ninja >/dev/null; then generator=(-G Ninja); fi
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release "${generator[@]}" "${options[@]}" >/dev/null
cmake --build build -j "$(nproc)" "${targets[@]}"
