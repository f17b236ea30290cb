/// \file
/// The owner's identity: an Ed25519 key pair (libsodium) that signs watermark keys and
/// ownership claims, so that a third party holding only the public key can check them.
///
/// Files: NAME.key (secret, mode 0600, refused when group or others may read it) and
/// NAME.pub (public), each a one-object JSON document:
///   {"format": "wmark-identity-1", "algorithm": "ed25519", "public_key": hex, "secret_key": hex}
///   {"format": "wmark-public-key-1", "algorithm": "ed25519", "public_key": hex}
/// The secret key is never logged, and wiped from memory when the Identity goes away.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "wmark/util/export.h"

namespace wmark {

/// An Ed25519 key pair (see the file comment). Movable, not copyable.
class WMARK_API Identity {
 public:
  /// A fresh key pair from the system's secure random source.
  static Identity generate();
  /// Reads a secret key file. Throws wmark::Error naming the file if it is missing,
  /// malformed, inconsistent (public key not derived from the secret one) or readable
  /// by group or others.
  static Identity load(const std::filesystem::path& secret_key_file);
  /// Writes `base`.key (mode 0600) and `base`.pub; a trailing ".key" on `base` is
  /// dropped. Refuses to replace either file unless `force`.
  void save(const std::filesystem::path& base, bool force = false) const;
  /// The public key, hex.
  const std::string& public_key() const { return public_hex_; }
  /// The first 16 hex digits of SHA-256 of the public key, for display.
  std::string fingerprint() const;
  /// The detached Ed25519 signature of `message`, hex.
  std::string sign(const std::string& message) const;

  /// Takes over `other`'s keys (left empty).
  Identity(Identity&& other) noexcept;
  /// Wipes this secret key and takes over `other`'s keys.
  Identity& operator=(Identity&& other) noexcept;
  Identity(const Identity&) = delete;
  Identity& operator=(const Identity&) = delete;
  /// Wipes the secret key.
  ~Identity();

 private:
  Identity() = default;
  std::string public_hex_;
  std::vector<unsigned char> secret_;  // 64 bytes: libsodium's seed || public key
};

/// The public key (hex) of a NAME.pub file. Throws wmark::Error naming the file if it
/// is missing or malformed. A secret key file is refused (it is not to be handed out).
WMARK_API std::string load_public_key(const std::filesystem::path& path);

/// Whether `signature_hex` is a valid Ed25519 signature of `message` by `public_key_hex`;
/// false (not an error) for malformed hex or wrong lengths.
WMARK_API bool verify_signature(const std::string& public_key_hex, const std::string& message,
                                const std::string& signature_hex);

/// The first 16 hex digits of SHA-256 of a public key given in hex.
WMARK_API std::string public_key_fingerprint(const std::string& public_key_hex);

}  // namespace wmark
