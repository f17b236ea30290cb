// Transforms that reduce the levels a pixel can take: input quantization (bin
// midpoints) and feature squeezing (bit depth).
#include <torch/torch.h>

#include <cmath>

#include "wmark/attack/input_transforms.h"

namespace wmark {

const OptionBinding<InputQuantizationOptions>& InputQuantization::declared_options() {
  static const auto binding = [] {
    OptionBinding<InputQuantizationOptions> b("the input-quantization transform");
    b.describe("Quantize every input pixel to the midpoint of one of `divisions` equal bins")
        .integer(WMARK_OPTION_FIELD(divisions), "equal bins over [0, 1]", 2, 256);
    return b;
  }();
  return binding;
}

InputQuantization::InputQuantization(InputQuantizationOptions options) : options_(declared_options().checked(options)) {}

nlohmann::json InputQuantization::options() const { return declared_options().write(options_); }

at::Tensor InputQuantization::apply(const at::Tensor& pixels) const {
  check_pixels(pixels, "input-quantization");
  const auto n = static_cast<double>(options_.divisions());
  return ((pixels.clamp(0, 1) * n).floor().clamp(0, n - 1) + 0.5) / n;
}

const OptionBinding<FeatureSqueezingOptions>& FeatureSqueezing::declared_options() {
  static const auto binding = [] {
    OptionBinding<FeatureSqueezingOptions> b("the feature-squeezing transform");
    b.describe("Reduce every input pixel to `bit_depth` bits")
        .integer(WMARK_OPTION_FIELD(bit_depth), "bits per pixel left", 1, 8);
    return b;
  }();
  return binding;
}

FeatureSqueezing::FeatureSqueezing(FeatureSqueezingOptions options) : options_(declared_options().checked(options)) {}

nlohmann::json FeatureSqueezing::options() const { return declared_options().write(options_); }

at::Tensor FeatureSqueezing::apply(const at::Tensor& pixels) const {
  check_pixels(pixels, "feature-squeezing");
  const double top = std::ldexp(1.0, static_cast<int>(options_.bit_depth())) - 1;
  return (pixels.clamp(0, 1) * top).round() / top;
}

}  // namespace wmark
