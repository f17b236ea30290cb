#!/usr/bin/env bash
# Fuzzes every parser of outside input with libFuzzer for a bounded time.
# Usage: scripts/fuzz.sh [SECONDS_PER_TARGET [TARGET...]]   (default 60 s, every target)
# Builds into build-fuzz/ with clang (installed from Debian if missing), AddressSanitizer
# and libFuzzer; seeds come from the real datasets and from files wmark writes. Findings
# (crash-*, timeout-*, oom-*) land in build-fuzz/findings/TARGET/; each becomes a
# regression test in tests/. Prints executions and findings per target; exits 1 on any.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"

if ! command -v clang++ >/dev/null || ! dpkg-query -W -f='${Status}' libclang-rt-14-dev 2>/dev/null | grep -q "ok installed"; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends clang libclang-rt-14-dev
fi
scripts/install-deps.sh

flags="-fsanitize=address,fuzzer-no-link -fno-omit-frame-pointer -g"
cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_COMPILER=clang++ \
  -DCMAKE_CXX_FLAGS="$flags" -DWMARK_BUILD_FUZZ=ON -DWMARK_BUILD_TESTS=OFF -DWMARK_BUILD_EXAMPLES=OFF \
  -DWMARK_BUILD_BENCH=OFF >/dev/null
targets=(fuzz_infer_protocol fuzz_remote_response fuzz_key fuzz_claim fuzz_dataset fuzz_model_file fuzz_timestamp
  fuzz_commitments)
if [ $# -gt 1 ]; then shift; targets=("$@"); fi
cmake --build build-fuzz -j "$(nproc)" $(printf -- '--target %s ' "${targets[@]}")

# Seeds: small valid inputs of each kind.
seeds=build-fuzz/seeds
rm -rf "$seeds"; mkdir -p "$seeds"/{fuzz_infer_protocol,fuzz_remote_response,fuzz_key,fuzz_claim,fuzz_dataset,fuzz_model_file,fuzz_timestamp,fuzz_commitments}
printf '\x00{"inputs":[{"name":"input","shape":[1,2],"datatype":"FP32","data":[1.5,2]}],"outputs":[{"name":"label"}]}' \
  > "$seeds/fuzz_infer_protocol/v2"
printf '\x03{"instances":[[[1,2],[3,4]]]}' > "$seeds/fuzz_infer_protocol/v1"
printf '\x04{"predictions":[{"scores":[0.1,0.9],"label":1},3,[1,2]]}' > "$seeds/fuzz_infer_protocol/v1p"
printf '\x02{"model_name":"m","outputs":[{"name":"label","shape":[2],"datatype":"INT64","data":[1,2]}]}' \
  > "$seeds/fuzz_infer_protocol/v2r"
# Hostile seeds (issue #18): deep nesting in shape and data, counts past every limit,
# binary sizes that lie, invalid UTF-8.
{ printf '\x00{"inputs":[{"name":"input","datatype":"FP32","data":[0],"shape":[1000000000,'
  head -c 5000 /dev/zero | tr '\0' '['; printf 1; head -c 5000 /dev/zero | tr '\0' ']'; printf ']}]}'; } \
  > "$seeds/fuzz_infer_protocol/deep_shape"
{ printf '\x03{"instances":'; head -c 5000 /dev/zero | tr '\0' '['; head -c 5000 /dev/zero | tr '\0' ']'; printf '}'; } \
  > "$seeds/fuzz_infer_protocol/deep_v1"
printf '\x00{"inputs":[{"name":"input","shape":[4000000000000000000,1,28,28],"datatype":"FP32","data":[0]}]}' \
  > "$seeds/fuzz_infer_protocol/huge_count"
printf '\x01{"inputs":[{"name":"input","shape":[1,4],"datatype":"UINT8","parameters":{"binary_data_size":99}}]}xxxx' \
  > "$seeds/fuzz_infer_protocol/lying_binary"
printf '\x00{"inputs":[{"name":"\xff\xfe","shape":[1],"datatype":"FP32","data":[0]}]}' \
  > "$seeds/fuzz_infer_protocol/bad_utf8"
# What a hostile suspect server sends the remote client: metadata (valid, deep, many
# dimensions), responses (JSON, binary with a lying length), V1 predictions.
r=$seeds/fuzz_remote_response
printf '\x00{"name":"m","inputs":[{"name":"x","datatype":"UINT8","shape":[-1,1,28,28]}],"outputs":[{"name":"label","datatype":"INT64","shape":[-1]}]}' > "$r/metadata"
printf '\x00{"inputs":[{"name":"x","datatype":"FP32","shape":[1,2,3,4,5,6,7,8,9,10]}]}' > "$r/many_dims"
{ printf '\x00{"inputs":[{"name":"x","datatype":"FP32","shape":'; head -c 3000 /dev/zero | tr '\0' '['; head -c 3000 /dev/zero | tr '\0' ']'; printf '}]}'; } > "$r/deep_metadata"
printf '\x01{"model_name":"m","outputs":[{"name":"label","shape":[2],"datatype":"INT64","data":[1,2]}]}' > "$r/response"
printf '\x0a{"model_name":"m","outputs":[{"name":"label","shape":[2],"datatype":"INT64","parameters":{"binary_data_size":16}}]}\x01\x00\x00\x00\x00\x00\x00\x00' > "$r/binary_lying"
printf '\x03{"predictions":[{"scores":[0.1,0.9],"label":1},[0.2,0.8]]}' > "$r/v1"
data="${WMARK_DATA:-../shared/data}"
if [ -f "$data/mnist/t10k-labels-idx1-ubyte.gz" ]; then
  { printf '\x01'; (gzip -dc "$data/mnist/t10k-labels-idx1-ubyte.gz" || true) | head -c 200; } > "$seeds/fuzz_dataset/labels"
  { printf '\x00'; (gzip -dc "$data/mnist/t10k-images-idx3-ubyte.gz" || true) | head -c 16; head -c 784 /dev/zero; } > "$seeds/fuzz_dataset/images"
fi
{ printf '\x02'; head -c 3073 /dev/zero; } > "$seeds/fuzz_dataset/cifar"
printf '\x03P5\n2 2\n255\n\x01\x02\x03\x04' > "$seeds/fuzz_dataset/pgm"
if [ -x build/wmark ]; then
  # A real key, identity and claim-shaped documents from the CLI, when it is built.
  tmp=$(mktemp -d)
  build/wmark identity --out "$tmp/owner" >/dev/null
  cp "$tmp/owner.pub" "$seeds/fuzz_claim/pub"
  echo '{"format":"wmark-claim-1","commitment":"00","owner":{"public_key":"aa"},"signature":"00","key":{"commitment":"00"},"report":{"key_derivation":"derived","queries":10,"matches":9,"match_rate":0.9,"chance_rate":0.1,"p_threshold":1e-6,"min_match_rate":0.5,"verified":true,"log10_p_value":-8}}' \
    > "$seeds/fuzz_claim/claim"
  echo '{"format":"wmark-claim-1","commitment":"00","owner":{"algorithm":"ed25519","public_key":"aa"},"signature":"00","key":{"commitment":"00","method":"trigger-set","num_classes":10,"label_policy":"random","generator":"content","tensors":{"labels":[50],"images":[50,1,28,28]},"signature":{"public_key":"aa","signed_at":"x","value":"00"}},"report":{"key_derivation":"derived","key_commitment":"00","method":"trigger-set","queries":4000000000000000000,"matches":3000000000000000000,"match_rate":0.75,"chance_rate":0.01,"p_threshold":0.9,"min_match_rate":0.1,"verified":true,"log10_p_value":-8}}' \
    > "$seeds/fuzz_claim/bounded"
  echo '{"format":"wmark-claim-1","commitment":"00","owner":{"algorithm":"ed25519","public_key":"aa"},"signature":"00","key":{"commitment":"00","method":"uchida","num_classes":10,"tensors":{"bits":[64],"projection":[64,4608]}},"report":{"key_derivation":"derived","key_commitment":"00","method":"uchida","queries":64,"matches":64,"match_rate":1.0,"chance_rate":0.5,"p_threshold":1e-6,"min_match_rate":0.9,"verified":true,"log10_p_value":-19.2}}' \
    > "$seeds/fuzz_claim/whitebox"
  rm -rf "$tmp"
fi
/usr/bin/python3 - "$seeds" <<'PY' || true
import sys, torch
seeds = sys.argv[1]
torch.save({"fc.weight": torch.zeros(2, 2)}, seeds + "/fuzz_model_file/state.pt")
with open(seeds + "/fuzz_model_file/state.pt", "rb") as f:
    data = f.read()
with open(seeds + "/fuzz_model_file/state.pt", "wb") as f:
    f.write(b"\x00" + data)
PY
# A wmark checkpoint with Adam's state (nested archives): the screen's richest valid input.
if [ -x build/wmark ]; then
  t=$(mktemp -d)
  build/wmark train --subset 100 --epochs 1 --optimizer adam --checkpoint "$t/c.pt" --out "$t/m.pt" >/dev/null 2>&1 &&
    { printf '\x01'; cat "$t/c.pt"; } > "$seeds/fuzz_model_file/checkpoint.pt"
  rm -rf "$t"
fi
# An adi dispute: a valid exchange over two committed seeds (BLAKE2b-256 of the domain
# and the seed, as commit_seeds() computes it), and each document alone.
/usr/bin/python3 - "$seeds/fuzz_commitments" <<'PY'
import hashlib, json, sys
out = sys.argv[1]
seeds = [bytes([i]) * 32 for i in (1, 2)]
commit = lambda s: hashlib.blake2b(b"wmark-trigger-commitment-v1\x00" + s, digest_size=32).hexdigest()
published = {"format": "wmark-trigger-commitments-1", "method": "adi", "num_classes": 10, "input_shape": [1, 28, 28],
             "normalization": {"mean": [0.1307], "std": [0.3081]}, "dataset": "mnist", "owner": "",
             "generator_options": {"shapes": 10}, "key_commitment": "ab" * 32, "commitments": [commit(s) for s in seeds]}
request = {"format": "wmark-open-request-1", "key_commitment": "ab" * 32, "indices": [0, 1]}
opening = {"format": "wmark-trigger-opening-1", "indices": [0, 1], "seeds": [s.hex() for s in seeds]}
for name, doc in [("exchange", {"published": published, "request": request, "opening": opening}),
                  ("published", published), ("request", request), ("opening", opening)]:
    with open(f"{out}/{name}", "w") as f:
        json.dump(doc, f)
PY
printf 'WMARK-KEY 1\n{"method":"trigger-set","params":{},"seed":1,"num_classes":10,"input_shape":[1,2,2],"normalization":{"mean":[],"stddev":[]},"dataset":"mnist","created":"x","tensors":[{"name":"labels","dtype":"int64","shape":[1],"offset":0,"nbytes":8}],"commitment":"00"}\n\x01\x00\x00\x00\x00\x00\x00\x00' \
  > "$seeds/fuzz_key/key"
z64=$(printf '0%.0s' $(seq 64))
printf 'WMARK-KEY 2\n{"commitment":"00","created":"x","dataset":"mnist","derivation":"wmark-key-stream-v1","hash":"sha256","input_shape":[1,2,2],"method":"trigger-set","normalization":{"mean":[],"stddev":[]},"num_classes":10,"owner":"","params":{},"salt":"%s","secret":"%s","tensors":[{"name":"labels","dtype":"int64","shape":[1],"offset":0,"nbytes":8}]}\n\x01\x00\x00\x00\x00\x00\x00\x00' "$z64" "$z64" \
  > "$seeds/fuzz_key/key2"

# Time stamps: a test CA and TSA (openssl), a token and a response over the commitment
# fuzz_timestamp checks against (64 zeros), each with and without the CA in front.
t=$(mktemp -d)
if (cd "$t" &&
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj '/CN=fuzz CA' \
      -keyout ca.key -out ca.pem -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign &&
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj '/CN=fuzz TSA' -keyout tsa.key -out tsa.csr &&
    printf 'extendedKeyUsage=critical,timeStamping\n' > tsa.ext &&
    openssl x509 -req -in tsa.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -out tsa.pem -extfile tsa.ext &&
    printf '01\n' > serial &&
    printf '[tsa]\ndefault_tsa=t\n[t]\nserial=serial\nsigner_cert=tsa.pem\nsigner_key=tsa.key\nsigner_digest=sha256\ndefault_policy=1.2.3.4\ndigests=sha256\ness_cert_id_alg=sha256\n' > tsa.cnf &&
    printf '%s' "$z64" > commitment &&
    openssl ts -query -data commitment -sha256 -cert -out query.tsq &&
    openssl ts -reply -config tsa.cnf -queryfile query.tsq -out reply.tsr &&
    openssl ts -reply -config tsa.cnf -queryfile query.tsq -token_out -out token.tst) >/dev/null 2>&1; then
  s=$seeds/fuzz_timestamp
  { printf '\x00'; cat "$t/token.tst"; } > "$s/token"
  { printf '\x01'; cat "$t/ca.pem" "$t/token.tst"; } > "$s/token_ca"
  { printf '\x02'; cat "$t/ca.pem" "$t/reply.tsr"; } > "$s/reply_ca"
fi
rm -rf "$t"

export ASAN_OPTIONS="detect_leaks=0:alloc_dealloc_mismatch=0:allocator_may_return_null=1"
# Targets run side by side, one per core.
fuzz_one() {
  local target=$1 corpus=build-fuzz/corpus/$1 findings=build-fuzz/findings/$1
  mkdir -p "$corpus" "$findings"
  build-fuzz/tests/fuzz/$target "$corpus" "$seeds/$target" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=4096 \
    -max_len=65536 -artifact_prefix="$findings/" -print_final_stats=1 >"build-fuzz/$target.log" 2>&1 || true
}
running=0
for target in "${targets[@]}"; do
  fuzz_one "$target" &
  running=$((running + 1))
  if [ "$running" -ge "$(nproc)" ]; then wait -n; running=$((running - 1)); fi
done
wait
total_findings=0
for target in "${targets[@]}"; do
  log=build-fuzz/$target.log
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo 0)
  found=$(find "build-fuzz/findings/$target" -type f | wc -l)
  total_findings=$((total_findings + found))
  printf '%-22s %10s executions  %d findings\n' "$target" "${runs:-0}" "$found"
done
[ "$total_findings" -eq 0 ]
