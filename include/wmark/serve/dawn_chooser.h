/// \file
/// DAWN's choice of inputs (serve/dawn.h): which answers a server key changes, and how.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "wmark/data/dataset.h"
#include "wmark/util/export.h"
#include "wmark/watermark/key.h"

namespace wmark {

/// What DAWN does to the answer for one input.
struct DawnChoice {
  bool changed = false;    ///< whether the answer is changed
  std::int64_t shift = 0;  ///< the served class is (model's class + shift) mod C; 1..C-1

  /// The class served for the model's `model_class` out of `num_classes`.
  std::int64_t served(std::int64_t model_class, std::int64_t num_classes) const {
    return changed ? (model_class + shift) % num_classes : model_class;
  }
};

/// How DAWN keys its choice of inputs (the server key's params "keying", "bits", "grid").
struct DawnKeying {
  /// "pixels": the exact pixels, so an image with one pixel moved is another query;
  /// "perceptual": keyed sign bits of the image averaged over a grid, so near-twins of
  /// an image (a pixel moved, faint noise, a brightness or contrast change) share its
  /// choice and a thief cannot outvote a changed answer with them.
  std::string keying = "pixels";
  /// Perceptual: the number of keyed random hyperplanes (sign bits), 1..64.
  std::int64_t bits = 16;
  /// Perceptual: the image is averaged over grid x grid cells per channel first.
  std::int64_t grid = 8;
};

/// DAWN's choice of inputs under a server (or proof) key.
///
/// "pixels": BLAKE2b keyed with the secret over "wmark-dawn-v1" 0x00, the image's
/// [C,H,W] (int64 little-endian) and its uint8 pixels. "perceptual": the image averaged
/// over grid x grid cells per channel, minus its overall mean (16-bit fixed point,
/// integer arithmetic, so every machine computes the same bits), projected on `bits`
/// keyed directions (each weight a sum of four int16 from ChaCha20 seeded by BLAKE2b of
/// the secret over "wmark-dawn-perceptual-weights-v1"); bit j is whether projection j
/// is positive, and BLAKE2b keyed with the secret over "wmark-dawn-perceptual-v1" 0x00,
/// [C,H,W], bits, grid and the bit bytes is the digest. Either way the digest's first
/// 8 bytes (little-endian) below rate * 2^64 pick the input and the next 8 give the
/// shift s in 1..C-1.
class WMARK_API DawnChooser {
 public:
  /// Reads `key`'s params (method "dawn", "rate" in (0, 0.5], the keying; a key without
  /// "keying" keys on pixels). Throws wmark::Error naming the bad param.
  explicit DawnChooser(const WatermarkKey& key);
  /// The choice for `image` (uint8 [C,H,W] of the key's shape): choice_of(bucket(image)).
  DawnChoice choose(const at::Tensor& image) const;
  /// What the choice is keyed on: the pixels, or the perceptual bits. Images of one
  /// bucket get one choice, so a proof counts each bucket once. Throws wmark::Error for
  /// an image that is not uint8 of the key's shape.
  std::string bucket(const at::Tensor& image) const;
  /// The choice for a bucket that bucket() gave.
  DawnChoice choice_of(const std::string& bucket) const;

 private:
  KeySecret secret_;
  double rate_ = 0;
  std::int64_t classes_ = 0;
  ImageShape shape_;
  DawnKeying keying_;
  std::vector<std::int32_t> weights_;  // perceptual: bits x (C * grid * grid)
  std::string digest_prefix_;          // hashed before every bucket
};

/// A new DAWN server key for a model of `input` shape and `num_classes` classes: method
/// "dawn", a fresh secret from the OS CSPRNG, params {"rate", "keying"} (and "bits",
/// "grid" when perceptual), no tensors. Save it with WatermarkKey::save (mode 0600).
/// Throws wmark::Error for a rate outside (0, 0.5], an unknown keying, bits outside
/// 1..64 or a grid outside 1..min(H, W).
WMARK_API WatermarkKey make_dawn_server_key(double rate, const ImageShape& input, std::int64_t num_classes,
                                            const Normalization& normalization, const std::string& dataset,
                                            const DawnKeying& keying = {});

}  // namespace wmark
