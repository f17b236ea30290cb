#include "wmark/util/sha256.h"

#include <sodium.h>

#include "wmark/util/encoding.h"

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

}  // namespace wmark
