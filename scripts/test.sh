#!/usr/bin/env bash
# The test command of the README and of CI: install dependencies, build, run every test.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh -DWMARK_BUILD_TESTS=ON -DWMARK_BUILD_EXAMPLES=ON -DWMARK_BUILD_BENCH=ON
cd build
ctest --output-on-failure --timeout 1500 "$@"
