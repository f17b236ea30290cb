/// \file
/// The watermark key: everything needed later to prove ownership, in one file.
///
/// File format (key.wmk, documented in docs/key-format.md):
///   line 1  "WMARK-KEY 1"
///   line 2  a one-line JSON header: method, params, seed, num_classes, input_shape,
///           normalization, dataset, created, tensors [{name, dtype, shape, offset,
///           nbytes}], commitment
///   rest    the tensors' raw little-endian bytes, back to back, in header order.
/// The commitment is SHA-256 over "wmark-key-commitment-v1\n", the canonical header
/// without its commitment field, "\n", and the payload; loading recomputes it and
/// refuses a key whose contents do not match. The key is secret: it is written with
/// mode 0600 and its triggers, seed and labels are never logged.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>

#include <ATen/core/Tensor.h>
#include <nlohmann/json.hpp>

#include "wmark/data/dataset.h"
#include "wmark/util/export.h"

namespace wmark {

/// A watermark key in memory: public metadata, secret parameters and named tensors.
struct WMARK_API WatermarkKey {
  /// Scheme, e.g. "trigger-set".
  std::string method;
  /// Scheme options (generator, its options, label policy, target label, ...).
  nlohmann::json params = nlohmann::json::object();
  /// The master seed the triggers and labels were drawn with (secret).
  std::uint64_t seed = 0;
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

  /// The tensor `name`; throws wmark::Error naming the key and the missing tensor.
  const at::Tensor& tensor(const std::string& name) const;
  /// Whether the key is proved by querying the model with its "images" and "labels"
  /// (methods "trigger-set" and "deepsigns-output"), not by reading the model's insides.
  bool black_box() const { return method == "trigger-set" || method == "deepsigns-output"; }
  /// SHA-256 commitment (hex) over the header fields and every tensor byte.
  std::string commitment() const;
  /// Writes the key with mode 0600; refuses to replace a file unless `force`. Requires
  /// uint8, int64 or float32 tensors; throws wmark::Error otherwise or on a write error.
  void save(const std::filesystem::path& path, bool force = false) const;
  /// Reads and checks a key file (format, sizes, commitment); throws wmark::Error
  /// naming the file and the problem.
  static WatermarkKey load(const std::filesystem::path& path);
  /// What may be shown: method, shapes, dataset, creation time, commitment, trigger
  /// count and the owner's signature; not the seed, the labels, the target or the tensors.
  nlohmann::json public_info() const;
};

/// The current UTC time as ISO 8601 ("2026-11-23T10:15:00Z").
WMARK_API std::string utc_now_iso8601();

}  // namespace wmark
