#include "wmark/util/sha256.h"

#include <sodium.h>

#include <fstream>
#include <vector>

#include "wmark/util/encoding.h"
#include "wmark/util/error.h"

namespace wmark {
namespace {

crypto_hash_sha256_state* state_of(std::array<unsigned char, 128>& storage) {
  static_assert(sizeof(crypto_hash_sha256_state) <= 128, "Sha256::state_ is too small for libsodium's state");
  static_assert(alignof(crypto_hash_sha256_state) <= 16, "Sha256::state_ is not aligned enough");
  return reinterpret_cast<crypto_hash_sha256_state*>(storage.data());
}

}  // namespace

Sha256::Sha256() {
  ensure_sodium();
  crypto_hash_sha256_init(state_of(state_));
}

Sha256& Sha256::update(const void* data, std::size_t size) {
  crypto_hash_sha256_update(state_of(state_), static_cast<const unsigned char*>(data), size);
  return *this;
}

Sha256::Digest Sha256::finish() {
  Digest digest;
  crypto_hash_sha256_final(state_of(state_), digest.data());
  return digest;
}

std::string to_hex(const Sha256::Digest& digest) {
  return hex_encode(digest.data(), digest.size());
}

std::string sha256_hex(std::string_view bytes) { return to_hex(Sha256().update(bytes).finish()); }

std::string file_sha256_hex(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  WMARK_CHECK(in, "cannot open ", path.string(), " to hash it");
  Sha256 hash;
  std::vector<char> block(1 << 20);
  while (in) {
    in.read(block.data(), static_cast<std::streamsize>(block.size()));
    hash.update(block.data(), static_cast<std::size_t>(in.gcount()));
  }
  WMARK_CHECK(in.eof(), "cannot read ", path.string(), " to hash it");
  return to_hex(hash.finish());
}

}  // namespace wmark
