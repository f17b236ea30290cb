#!/usr/bin/env bash
# Training throughput, C++ (wmark's Trainer) against Python (Debian's python3-torch),
# same model, data, batch, optimizer and threads.
# The machines are shared and their speed drifts by tens of percent within minutes, so
# the runs are short and interleaved: every round trains one epoch over the same number
# of MNIST images in each of four processes, one after another:
#   C++              wmark's Trainer (glibc malloc tuned by configure_runtime's mallopt)
#   Python tuned     malloc tuned by environment the way wmark tunes it (the reference)
#   Python plain     glibc defaults
#   Python layout    tuned malloc plus wmark's channels-last layout and op order
# A round's ratios compare neighbours measured seconds apart; the medians over rounds
# are the figures.
# ARCH=mnist_cnn (default), cifar_cnn or resnet18 picks the model; the dataset and the
# optimiser follow its recipe (MNIST with Adam 2e-3, batch 64; CIFAR-10 with SGD 0.05,
# momentum 0.9, weight decay 5e-4, batch 128), without augmentation on either side.
# Usage: [ARCH=NAME] bench/compare_train.sh [rounds=5] [samples=20000 per round, 0 = all]
#                                           [threads=nproc] [batch=the recipe's]
# The last line is ratio=X.XX: median over rounds of C++ samples/s over Python's
# (same allocator settings).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
build="${WMARK_BUILD_DIR:-$here/../build}"
arch="${ARCH:-mnist_cnn}"
case "$arch" in
  mnist_cnn) recipe="Adam 2e-3"; default_batch=64 ;;
  cifar_cnn|resnet18) recipe="SGD 0.05 momentum 0.9 weight decay 5e-4"; default_batch=128 ;;
  *) echo "compare_train.sh: unknown ARCH '$arch' (mnist_cnn, cifar_cnn or resnet18)" >&2; exit 2 ;;
esac
rounds="${1:-5}"; samples="${2:-20000}"; threads="${3:-$(nproc)}"; batch="${4:-$default_batch}"
data="${WMARK_DATA:-$here/../../shared/data}"
tuned_malloc=(env MALLOC_MMAP_THRESHOLD_=1073741824 MALLOC_TRIM_THRESHOLD_=1073741824
              MALLOC_TOP_PAD_=67108864)
python=(/usr/bin/python3 "$here/train_python.py" 1 "$threads" "$batch" "$data" "$samples" --arch="$arch")

rate() { grep "^$1=" | tail -1 | cut -d= -f2; }
median() { sort -g | awk '{v[NR]=$1} END {print (NR%2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.3f", a/b}'; }

echo "$arch, $recipe, batch $batch, $threads threads; $rounds rounds of $samples images (0 = all)"
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
for ((r = 1; r <= rounds; r++)); do
  cpp=$("$build/bench/bench_train" 1 "$threads" "$batch" "$data" "$samples" "$arch" |
        rate cpp_samples_per_second)
  tuned=$("${tuned_malloc[@]}" "${python[@]}" | rate python_samples_per_second)
  plain=$("${python[@]}" | rate python_samples_per_second)
  layout=$("${tuned_malloc[@]}" "${python[@]}" --layout-tuned | rate python_samples_per_second)
  echo "$cpp $tuned $plain $layout $(ratio "$cpp" "$tuned") $(ratio "$cpp" "$plain") $(ratio "$cpp" "$layout")" >>"$tmp"
  printf 'round %d: samples/s C++ %.0f | Python tuned malloc %.0f, plain %.0f, tuned+layout %.0f | ratio %s\n' \
    "$r" "$cpp" "$tuned" "$plain" "$layout" "$(ratio "$cpp" "$tuned")"
done

column() { cut -d' ' -f"$1" "$tmp" | median | xargs printf '%.2f'; }
echo "median samples/s: C++ $(column 1)"
echo "median samples/s: Python, tuned malloc $(column 2)"
echo "median samples/s: Python, plain malloc $(column 3)"
echo "median samples/s: Python, tuned malloc + wmark's layout and op order $(column 4)"
echo "ratio range over rounds: $(cut -d' ' -f5 "$tmp" | sort -g | head -1) to $(cut -d' ' -f5 "$tmp" | sort -g | tail -1)"
echo "ratio_vs_python_with_same_layout=$(column 7)"
echo "ratio_vs_plain_python=$(column 6)"
echo "ratio=$(column 5)"
