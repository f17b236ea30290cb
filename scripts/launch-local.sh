#!/usr/bin/env bash
# Starts N processes of a program on this machine with the environment torchrun sets
# (RANK, LOCAL_RANK, WORLD_SIZE, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT), for users
# without Python. Equivalent to:
#   python3 -m torch.distributed.run --standalone --nproc_per_node=N --no_python PROGRAM ARGS...
# Usage: scripts/launch-local.sh N PROGRAM [ARGS...]   (e.g. scripts/launch-local.sh 2 build/wmark train ...)
# MASTER_PORT (default: a random free-looking port) and MASTER_ADDR (default 127.0.0.1)
# may be set by the caller. If one process fails, the others are stopped; the exit code
# is the first failure's (0 when all succeed).
set -euo pipefail
if [ $# -lt 2 ] || ! [[ "$1" =~ ^[1-9][0-9]*$ ]]; then
  echo "usage: $0 N PROGRAM [ARGS...]" >&2
  exit 2
fi
n="$1"; shift
export MASTER_ADDR="${MASTER_ADDR:-127.0.0.1}"
export MASTER_PORT="${MASTER_PORT:-$((20000 + RANDOM % 20000))}"
export WORLD_SIZE="$n" LOCAL_WORLD_SIZE="$n"
pids=()
for ((rank = 0; rank < n; rank++)); do
  RANK="$rank" LOCAL_RANK="$rank" "$@" &
  pids+=($!)
done
trap 'kill "${pids[@]}" 2>/dev/null || true' INT TERM
status=0
for _ in "${pids[@]}"; do
  code=0
  wait -n || code=$?
  if [ "$code" -ne 0 ] && [ "$status" -eq 0 ]; then
    status="$code"
    kill "${pids[@]}" 2>/dev/null || true
  fi
done
exit "$status"
