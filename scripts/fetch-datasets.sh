#!/usr/bin/env bash
# Downloads MNIST and CIFAR-10 (binary version) from their original publishers into
# DIR (default: ./datasets), verifying checksums. Needs an online machine, curl and
# sha256sum/md5sum. Point wmark at the result with --data-dir DIR or WMARK_DATA=DIR.
set -euo pipefail
dir="${1:-datasets}"
mkdir -p "$dir/mnist" "$dir/cifar-10-batches-bin"

fetch() {  # file url [fallback-url]: downloads unless already present
  local file="$1"; shift
  [ -s "$file" ] && return 0
  for url in "$@"; do
    if curl -fL --retry 3 -o "$file.part" "$url"; then mv "$file.part" "$file"; return 0; fi
  done
  echo "fetch-datasets: could not download $file" >&2
  return 1
}

# MNIST: the four original gzip files from Yann LeCun's page (a mirror kept by the
# PyTorch project as fallback); MD5 of each .gz as published.
declare -A mnist_md5=(
  [train-images-idx3-ubyte.gz]=f68b3c2dcbeaaa9fbdd348bbdeb94873
  [train-labels-idx1-ubyte.gz]=d53e105ee54ea40749a09fcbcd1e9432
  [t10k-images-idx3-ubyte.gz]=9fb629c4189551a2d022fa330f9573f3
  [t10k-labels-idx1-ubyte.gz]=ec29112dd5afa0611ce80d1b7f02629c
)
for f in "${!mnist_md5[@]}"; do
  fetch "$dir/mnist/$f" "http://yann.lecun.com/exdb/mnist/$f" "https://ossci-datasets.s3.amazonaws.com/mnist/$f"
  echo "${mnist_md5[$f]}  $dir/mnist/$f" | md5sum -c --quiet
done

# CIFAR-10 binary version from the University of Toronto; MD5 of the archive as published.
archive="$dir/cifar-10-binary.tar.gz"
fetch "$archive" "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"
echo "c32a1d4ab5d03f1284b67883e8d87530  $archive" | md5sum -c --quiet
tar -xzf "$archive" -C "$dir"
echo "datasets ready in $dir (use --data-dir $dir or WMARK_DATA=$dir)"
