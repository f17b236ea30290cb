#!/usr/bin/env bash
# Installs everything wmark needs to build, test and benchmark on Debian 12, from
# Debian's own packages. Idempotent and non-interactive; run as root (or with sudo).
set -euo pipefail

packages=(
  build-essential cmake ninja-build ccache pkg-config
  doxygen                            # API reference (target docs) and the docs_undocumented test
  libtorch-dev libopenblas0-openmp   # LibTorch multiplies through libblas.so.3: use OpenBLAS
  libeigen3-dev libspdlog-dev catch2 nlohmann-json3-dev libcli11-dev zlib1g-dev
  libcpp-httplib-dev                 # remote verification (HTTP client), test stand-ins
  libsimdjson-dev                    # parsing the serving protocols' JSON bodies (images as numbers)
  libboost1.81-dev                   # header-only: Boost.Beast (wmark serve), Boost.Math (binomial tails)
  libsodium-dev                      # Ed25519 signatures of keys and ownership claims
  libssl-dev openssl                 # RFC 3161 time stamps (OpenSSL's TS API); the tests' local TSA
  libgloo-dev                        # headers of c10d's Gloo backend (data-parallel training)
  dataset-fashion-mnist              # Fashion-MNIST under /usr/share/datasets (default dataset)
  python3-torch                      # the Python side of the benchmark and the interop tests
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all packages present"
  exit 0
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
