/// \file
/// The watermark key: everything needed later to prove ownership, in one file.
///
/// File format (key.wmk, documented in docs/key-format.md):
///   line 1  "WMARK-KEY 2"
///   line 2  a one-line JSON header: method, params, secret, owner, salt, hash,
///           derivation, num_classes, input_shape, normalization, dataset, created,
///           tensors [{name, dtype, shape, offset, nbytes}], commitment
///   rest    the tensors' raw little-endian bytes, back to back, in header order.
/// The commitment is SHA-256 over "wmark-key-commitment-v2\n", the canonical header
/// without its commitment field, "\n", and the payload. The header holds a fresh
/// 256-bit salt (so the commitment reveals nothing of the key without it) and the
/// owner's public key the key's secret is bound to (so the commitment names its owner).
/// Loading recomputes it and refuses a key whose contents do not match. Keys of format 1
/// ("WMARK-KEY 1", a 64-bit `seed` instead of secret, owner and salt) still load, as
/// legacy keys: nothing derives them from a secret. The key is secret: it is written
/// with mode 0600 and its triggers, secret and labels are never logged.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>

#include <ATen/core/Tensor.h>
#include <nlohmann/json.hpp>

#include "wmark/data/dataset.h"
#include "wmark/util/export.h"
#include "wmark/watermark/key_secret.h"

namespace wmark {

/// A target-label trigger set's control images (control_images(), trigger_generator.h)
/// and the class the verifier counts on them.
struct KeyControls {
  at::Tensor images;             ///< uint8 [N,C,H,W]
  std::int64_t target_label = 0; ///< the key's target class
};

/// A watermark key in memory: public metadata, secret parameters and named tensors.
struct WMARK_API WatermarkKey {
  /// Scheme, e.g. "trigger-set".
  std::string method;
  /// Scheme options (generator, its options, label policy, target label, ...).
  nlohmann::json params = nlohmann::json::object();
  /// The secret every random choice of the key derives from, and the owner it is bound
  /// to (key_secret.h). Meaningless for a legacy key.
  KeySecret secret;
  /// Salt of the commitment: 64 hex digits, fresh from the OS CSPRNG for a new key.
  std::string salt;
  /// Set for a key of format 1: the 64-bit seed it was drawn with. Such a key is
  /// written back in format 1 (its commitment must not change).
  std::optional<std::uint64_t> legacy_seed;
  /// Class count of the watermarked model (a loaded key has at least 2).
  std::int64_t num_classes = 0;
  /// Shape of one model input, [C,H,W].
  ImageShape input_shape;
  /// The input normalisation of the watermarked model.
  Normalization normalization;
  /// Name of the dataset the model was trained on.
  std::string dataset;
  /// UTC creation time, ISO 8601.
  std::string created;
  /// Named tensors (uint8, int64 or float32); for trigger sets "images" and "labels".
  std::map<std::string, at::Tensor> tensors;
  /// The owner's signature of the commitment and public metadata (claim/claim.h,
  /// `wmark embed --sign`), or null for an unsigned key. Public, and outside the
  /// commitment: signing does not change what the key commits to.
  nlohmann::json signature;

  /// An empty key with a fresh secret and salt.
  WatermarkKey();

  /// The tensor `name`; throws wmark::Error naming the key and the missing tensor.
  const at::Tensor& tensor(const std::string& name) const;
  /// Whether the key is proved by querying the model with its "images" and "labels"
  /// (its scheme's KeyKind, watermark/scheme.h), not by reading the model's insides;
  /// false for a method no scheme is registered under.
  bool black_box() const;
  /// Whether all its triggers carry one target class (params "label_policy" "target"):
  /// such a key needs control images to tell a mark from a model's bias (verifier.h).
  bool one_target_class() const;
  /// Its control images and target class, or nullopt for a key without them. Throws
  /// wmark::Error for control images on a key whose label policy is not "target", without
  /// a target class in [0, num_classes), or not of the key's input shape.
  std::optional<KeyControls> controls() const;
  /// SHA-256 commitment (hex) over the header fields (salt and owner included) and every
  /// tensor byte.
  std::string commitment() const;
  /// Writes the key with mode 0600; refuses to replace a file unless `force`. Requires
  /// uint8, int64 or float32 tensors; throws wmark::Error otherwise or on a write error.
  void save(const std::filesystem::path& path, bool force = false) const;
  /// Reads and checks a key file (format, sizes, commitment); throws wmark::Error
  /// naming the file and the problem.
  static WatermarkKey load(const std::filesystem::path& path);
  /// What may be shown: method, shapes, dataset, creation time, commitment, trigger
  /// count, the bound owner and the owner's signature; not the secret, the salt, the
  /// labels, the target or the tensors.
  nlohmann::json public_info() const;
};

/// The current UTC time as ISO 8601 ("2026-11-23T10:15:00Z").
WMARK_API std::string utc_now_iso8601();

}  // namespace wmark
