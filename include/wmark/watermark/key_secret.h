/// \file
/// The secret a watermark key derives from, and the keyed stream of its random choices.
///
/// Every random choice of a key (which images become triggers, their noise, their
/// labels, a target class, white-box projections and bits) is read from a KeyStream:
/// ChaCha20 keyed with BLAKE2b-256(key = the 256-bit secret, message =
/// "wmark-key-stream-v1" 0x00 purpose 0x00 owner's public key). The secret comes from
/// the OS CSPRNG (libsodium randombytes_buf), never from `--seed`, and binding the
/// owner's public key makes a stream of one owner useless to another. Holding the secret,
/// the owner's key and the public inputs (options, the named dataset), anyone recomputes
/// the key bit for bit: the stream uses integer and IEEE basic arithmetic only (no libm),
/// so it gives the same numbers on every machine.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include <ATen/core/Tensor.h>
#include <c10/util/ArrayRef.h>

#include "wmark/util/export.h"

namespace wmark {

class KeyStream;

/// A 256-bit key secret and the owner it is bound to. Never logged.
struct WMARK_API KeySecret {
  /// The secret bytes.
  std::array<std::uint8_t, 32> value{};
  /// The owner's Ed25519 public key (hex) bound into every stream; empty = unbound.
  std::string owner_public_key;

  /// A fresh secret from the OS CSPRNG, unbound.
  KeySecret();
  KeySecret(const KeySecret&) = default;             ///< Copies secret and owner.
  KeySecret& operator=(const KeySecret&) = default;  ///< Copies secret and owner.
  /// Wipes the secret bytes.
  ~KeySecret();
  /// The secret given as 64 hex digits (reproducible tests and examples: such a key is
  /// only as secret as that text). Throws wmark::Error for anything else, without
  /// echoing the text.
  static KeySecret from_hex(std::string_view hex, std::string owner_public_key = "");
  /// The 64 lower-case hex digits of `value`.
  std::string hex() const;
  /// The stream for one purpose ("noise", "random-labels", ...); streams of different
  /// purposes, secrets or owners are independent.
  KeyStream stream(std::string_view purpose) const;
  /// Same secret and same owner.
  bool operator==(const KeySecret& other) const;
  /// Another secret or another owner.
  bool operator!=(const KeySecret& other) const { return !(*this == other); }
};

/// A secret derived from a seed, for reproducible experiments and tests only (wmark
/// evaluate, benchmarks): it is exactly as guessable as the seed, so a key made with it
/// proves nothing against a false accuser.
WMARK_API KeySecret experiment_secret(std::uint64_t seed, std::string_view purpose);

/// A deterministic stream of random choices (see the file comment).
class WMARK_API KeyStream {
 public:
  /// The stream of `secret` for `purpose`.
  KeyStream(const KeySecret& secret, std::string_view purpose);
  KeyStream(const KeyStream&) = default;             ///< A copy that continues independently.
  KeyStream& operator=(const KeyStream&) = default;  ///< A copy that continues independently.
  /// Wipes the stream key.
  ~KeyStream();
  /// The next 64 bits, little-endian from the ChaCha20 key stream.
  std::uint64_t next_u64();
  /// Uniform in [0, n) by rejection (no modulo bias); requires n >= 1.
  std::int64_t uniform(std::int64_t n);
  /// int64 [count], each uniform in [0, n).
  at::Tensor uniform(std::int64_t count, std::int64_t n);
  /// int64 [count]: `count` distinct values of [0, n) in random order (the first
  /// `count` steps of a Fisher-Yates shuffle); requires 0 <= count <= n.
  at::Tensor sample(std::int64_t n, std::int64_t count);
  /// float32 of `sizes`, approximately standard normal: the sum of 12 uniforms on
  /// [0, 1) minus 6 (Irwin-Hall; mean 0, variance 1, within +-6), chosen over
  /// Box-Muller because it needs no libm and so is bit-identical everywhere.
  at::Tensor normal(c10::IntArrayRef sizes);
  /// uint8 of `sizes`, uniform bytes.
  at::Tensor bytes(c10::IntArrayRef sizes);

 private:
  void refill();
  std::array<unsigned char, 32> key_{};
  std::array<unsigned char, 1024> buffer_{};
  std::size_t used_ = 0;
  std::uint64_t next_block_ = 0;
};

}  // namespace wmark
