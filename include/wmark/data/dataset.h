/// \file
/// A dataset split held in memory: all images in one uint8 tensor plus labels.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>
#include <nlohmann/json_fwd.hpp>

#include "wmark/util/export.h"

namespace wmark {

/// Channels, height and width of one image.
struct WMARK_API ImageShape {
  std::int64_t channels = 0;  ///< C
  std::int64_t height = 0;    ///< H
  std::int64_t width = 0;     ///< W

  /// True when all three sizes are equal.
  bool operator==(const ImageShape& other) const {
    return channels == other.channels && height == other.height && width == other.width;
  }
  /// True when any size differs.
  bool operator!=(const ImageShape& other) const { return !(*this == other); }
  /// "CxHxW", for messages.
  std::string str() const;
  /// {C, H, W}.
  std::vector<std::int64_t> dims() const;
};

/// Per-channel normalisation applied to uint8 pixels: (x / 255 - mean) / stddev.
struct WMARK_API Normalization {
  std::vector<double> mean;    ///< per channel, on the [0,1] scale; empty = none
  std::vector<double> stddev;  ///< per channel, positive; as many as `mean`

  /// uint8 [N,C,H,W] -> float [N,C,H,W], normalised; an empty normalisation only scales
  /// to [0,1]. Requires a 4-D batch, as many means as standard deviations (one per
  /// channel) and positive standard deviations; throws wmark::Error otherwise.
  at::Tensor apply(const at::Tensor& images) const;
};

/// One split of a dataset. `images` is uint8 [N,C,H,W] (contiguous), `labels` int64 [N].
/// Conversion to float happens per batch, so a split costs one byte per pixel.
struct WMARK_API Dataset {
  std::string name;             ///< canonical dataset name, e.g. "mnist"
  at::Tensor images;            ///< uint8 [N,C,H,W], contiguous
  at::Tensor labels;            ///< int64 [N], in [0, num_classes)
  /// Optional float [N, num_classes] class probabilities to train towards instead of
  /// `labels` (a victim's answers in an extraction attack); undefined for hard labels.
  /// select() carries them; `labels` stay the argmax for accuracy figures.
  at::Tensor soft_labels;
  std::int64_t num_classes = 0; ///< number of classes
  Normalization normalization;  ///< what models trained on it expect

  /// Number of samples N (0 when `images` is undefined).
  std::int64_t size() const;
  /// The shape of one image (all zero when `images` is undefined).
  ImageShape shape() const;
  /// The samples at `indices` (int64), with their soft labels if any, as a new dataset
  /// with the same metadata.
  Dataset select(const at::Tensor& indices) const;
};

/// The training and test splits of one dataset.
struct DatasetSplits {
  Dataset train;  ///< the training split
  Dataset test;   ///< the test split
};

/// JSON of an image shape: [C, H, W].
WMARK_API void to_json(nlohmann::json& j, const ImageShape& shape);
/// Reads [C, H, W]; throws wmark::Error unless it is an array of three positive sizes.
WMARK_API void from_json(const nlohmann::json& j, ImageShape& shape);
/// JSON of a normalisation: {"mean": [...], "std": [...]}.
WMARK_API void to_json(nlohmann::json& j, const Normalization& normalization);
/// Reads {"mean": [...], "std": [...]}; throws wmark::Error if their lengths differ.
WMARK_API void from_json(const nlohmann::json& j, Normalization& normalization);

}  // namespace wmark
