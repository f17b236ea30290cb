#!/usr/bin/env bash
# Training throughput, C++ (wmark's Trainer) against Python (Debian's python3-torch),
# same model, data, batch, optimizer and threads, measured side by side in one run.
# Python runs twice: plain, and with glibc malloc tuned by environment the way wmark
# tunes it with mallopt, so the second ratio credits the loop and not the allocator.
# Usage: bench/compare_train.sh [epochs=2] [threads=nproc] [batch=64]
# The last line is ratio=X.XX: C++ samples/s over Python's (same allocator settings).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
build="${WMARK_BUILD_DIR:-$here/../build}"
epochs="${1:-2}"; threads="${2:-$(nproc)}"; batch="${3:-64}"
data="${WMARK_DATA:-$here/../../shared/data}/mnist"

value() { grep "^$1=" | tail -1 | cut -d= -f2; }

cpp_out=$("$build/bench/bench_train" "$epochs" "$threads" "$batch" "$(dirname "$data")")
echo "$cpp_out"
py_plain_out=$(/usr/bin/python3 "$here/train_python.py" "$epochs" "$threads" "$batch" "$data")
echo "$py_plain_out"
py_tuned_out=$(MALLOC_MMAP_THRESHOLD_=1073741824 MALLOC_TRIM_THRESHOLD_=1073741824 MALLOC_TOP_PAD_=67108864 \
  /usr/bin/python3 "$here/train_python.py" "$epochs" "$threads" "$batch" "$data")
echo "$py_tuned_out" | sed 's/^python/python(tuned malloc)/'
py_layout_out=$(MALLOC_MMAP_THRESHOLD_=1073741824 MALLOC_TRIM_THRESHOLD_=1073741824 MALLOC_TOP_PAD_=67108864 \
  /usr/bin/python3 "$here/train_python.py" "$epochs" "$threads" "$batch" "$data" --layout-tuned)
echo "$py_layout_out" | sed 's/^python/python(tuned malloc+layout)/'

cpp=$(echo "$cpp_out" | value cpp_samples_per_second)
py_plain=$(echo "$py_plain_out" | value python_samples_per_second)
py_tuned=$(echo "$py_tuned_out" | value python_samples_per_second)
py_layout=$(echo "$py_layout_out" | value python_samples_per_second)
echo "cpp samples/s: $cpp"
echo "python samples/s (plain malloc): $py_plain"
echo "python samples/s (tuned malloc): $py_tuned"
echo "python samples/s (tuned malloc, wmark's layout and op order): $py_layout"
echo "ratio_vs_python_with_same_layout=$(awk -v a="$cpp" -v b="$py_layout" 'BEGIN{printf "%.2f", a/b}')"
echo "ratio_vs_plain_python=$(awk -v a="$cpp" -v b="$py_plain" 'BEGIN{printf "%.2f", a/b}')"
echo "ratio=$(awk -v a="$cpp" -v b="$py_tuned" 'BEGIN{printf "%.2f", a/b}')"
