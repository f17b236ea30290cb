/// \file
/// SHA-256 (FIPS 180-4) by libsodium, for watermark-key commitments and file digests.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include "wmark/util/export.h"

namespace wmark {

/// The name of the hash recorded in keys and claims ("sha256").
inline constexpr const char* kHashName = "sha256";

/// Incremental SHA-256 (libsodium's crypto_hash_sha256).
class WMARK_API Sha256 {
 public:
  /// A 32-byte SHA-256 digest.
  using Digest = std::array<std::uint8_t, 32>;
  /// Starts the hash of an empty message.
  Sha256();
  /// Feeds `size` bytes.
  Sha256& update(const void* data, std::size_t size);
  /// Feeds the bytes of a string.
  Sha256& update(std::string_view bytes) { return update(bytes.data(), bytes.size()); }
  /// Finishes and returns the digest; the object must not be updated afterwards.
  Digest finish();

 private:
  // libsodium's crypto_hash_sha256_state, kept opaque so that this header needs no
  // sodium.h (the .cpp checks that it fits).
  alignas(16) std::array<unsigned char, 128> state_{};
};

/// Lower-case hexadecimal of a digest.
WMARK_API std::string to_hex(const Sha256::Digest& digest);

/// SHA-256 of a byte string, as lower-case hexadecimal.
WMARK_API std::string sha256_hex(std::string_view bytes);

/// SHA-256 of a file's content, read in blocks (a model of any size in bounded memory),
/// as lower-case hexadecimal. Throws wmark::Error naming the file if it cannot be read.
WMARK_API std::string file_sha256_hex(const std::filesystem::path& path);

}  // namespace wmark
