#include "wmark/data/dataset.h"

#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include "wmark/util/error.h"

namespace wmark {

std::string ImageShape::str() const {
  return std::to_string(channels) + "x" + std::to_string(height) + "x" + std::to_string(width);
}

std::vector<std::int64_t> ImageShape::dims() const { return {channels, height, width}; }

at::Tensor Normalization::apply(const at::Tensor& images) const {
  WMARK_CHECK(images.dim() == 4, "expected an image batch [N,C,H,W], got ", images.dim(),
              " dimensions");
  WMARK_CHECK(mean.size() == stddev.size(), "normalisation has ", mean.size(), " means but ",
              stddev.size(), " standard deviations");
  auto x = images.to(torch::kFloat);
  if (mean.empty()) return x.mul_(1.0 / 255.0);
  const auto channels = images.size(1);
  WMARK_CHECK(static_cast<std::int64_t>(mean.size()) == channels, "normalisation is for ",
              mean.size(), " channels but the images have ", channels);
  // One fused multiply-add: x * (1 / (255 std)) + (-mean / std).
  std::vector<float> scale(channels), shift(channels);
  for (std::int64_t c = 0; c < channels; ++c) {
    WMARK_CHECK(stddev[c] > 0, "normalisation stddev must be positive");
    scale[c] = static_cast<float>(1.0 / (255.0 * stddev[c]));
    shift[c] = static_cast<float>(-mean[c] / stddev[c]);
  }
  // Owned copies, not from_blob views of the local vectors: autograd keeps `scale` for
  // the backward pass (inputs optimised through the normalisation, as model inversion
  // does), long after this function returns.
  auto scale_t = torch::tensor(scale, torch::kFloat).view({1, channels, 1, 1}).to(x.device());
  auto shift_t = torch::tensor(shift, torch::kFloat).view({1, channels, 1, 1}).to(x.device());
  return torch::addcmul(shift_t, x, scale_t);
}

std::int64_t Dataset::size() const { return images.defined() ? images.size(0) : 0; }

ImageShape Dataset::shape() const {
  if (!images.defined()) return {};
  return {images.size(1), images.size(2), images.size(3)};
}

Dataset Dataset::select(const at::Tensor& indices) const {
  Dataset out = *this;
  out.images = images.index_select(0, indices);
  out.labels = labels.index_select(0, indices);
  if (soft_labels.defined()) out.soft_labels = soft_labels.index_select(0, indices);
  return out;
}

void to_json(nlohmann::json& j, const ImageShape& shape) {
  j = nlohmann::json::array({shape.channels, shape.height, shape.width});
}

void from_json(const nlohmann::json& j, ImageShape& shape) {
  WMARK_CHECK(j.is_array() && j.size() == 3, "an image shape is [channels, height, width], got ",
              j.dump());
  shape.channels = j.at(0).get<std::int64_t>();
  shape.height = j.at(1).get<std::int64_t>();
  shape.width = j.at(2).get<std::int64_t>();
  WMARK_CHECK(shape.channels > 0 && shape.height > 0 && shape.width > 0,
              "image shape must be positive, got ", j.dump());
}

void to_json(nlohmann::json& j, const Normalization& normalization) {
  j = nlohmann::json{{"mean", normalization.mean}, {"std", normalization.stddev}};
}

void from_json(const nlohmann::json& j, Normalization& normalization) {
  normalization.mean = j.at("mean").get<std::vector<double>>();
  normalization.stddev = j.at("std").get<std::vector<double>>();
  WMARK_CHECK(normalization.mean.size() == normalization.stddev.size(),
              "normalisation has ", normalization.mean.size(), " means but ",
              normalization.stddev.size(), " standard deviations");
}

}  // namespace wmark
