/// \file
/// A dataset split held in memory: all images in one uint8 tensor plus labels.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>
#include <nlohmann/json_fwd.hpp>

namespace wmark {

/// Channels, height and width of one image.
struct ImageShape {
  std::int64_t channels = 0;
  std::int64_t height = 0;
  std::int64_t width = 0;

  bool operator==(const ImageShape& other) const {
    return channels == other.channels && height == other.height && width == other.width;
  }
  bool operator!=(const ImageShape& other) const { return !(*this == other); }
  /// "CxHxW", for messages.
  std::string str() const;
  /// {C, H, W}.
  std::vector<std::int64_t> dims() const;
};

/// Per-channel normalisation applied to uint8 pixels: (x / 255 - mean) / stddev.
struct Normalization {
  std::vector<double> mean;
  std::vector<double> stddev;

  /// uint8 [N,C,H,W] -> float [N,C,H,W], normalised; an empty normalisation only scales to [0,1].
  at::Tensor apply(const at::Tensor& images) const;
};

/// One split of a dataset. `images` is uint8 [N,C,H,W] (contiguous), `labels` int64 [N].
/// Conversion to float happens per batch, so a split costs one byte per pixel.
struct Dataset {
  std::string name;
  at::Tensor images;
  at::Tensor labels;
  std::int64_t num_classes = 0;
  Normalization normalization;

  std::int64_t size() const;
  ImageShape shape() const;
  /// The samples at `indices` (int64), as a new dataset with the same metadata.
  Dataset select(const at::Tensor& indices) const;
};

/// The training and test splits of one dataset.
struct DatasetSplits {
  Dataset train;
  Dataset test;
};

void to_json(nlohmann::json& j, const ImageShape& shape);
void from_json(const nlohmann::json& j, ImageShape& shape);
void to_json(nlohmann::json& j, const Normalization& normalization);
void from_json(const nlohmann::json& j, Normalization& normalization);

}  // namespace wmark
