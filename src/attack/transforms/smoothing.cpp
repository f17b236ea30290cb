// Smoothing transforms: Gaussian (convolution) and median (order statistic), per
// channel, edges replicated.
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "wmark/attack/input_transforms.h"
#include "wmark/util/error.h"

namespace wmark {

namespace {

namespace F = torch::nn::functional;

// `pixels` padded by `radius` on every side with the edge values.
at::Tensor replicate_edges(const at::Tensor& pixels, std::int64_t radius) {
  return F::pad(pixels, F::PadFuncOptions({radius, radius, radius, radius}).mode(torch::kReplicate));
}

}  // namespace

const OptionBinding<GaussianSmoothingOptions>& GaussianSmoothing::declared_options() {
  static const auto binding = [] {
    OptionBinding<GaussianSmoothingOptions> b("the input-gaussian-smoothing transform");
    b.describe("Blur every input with a Gaussian kernel")
        .number(WMARK_OPTION_FIELD(sigma), "standard deviation of the kernel, in pixels", 0.05, 10.0);
    return b;
  }();
  return binding;
}

GaussianSmoothing::GaussianSmoothing(GaussianSmoothingOptions options) : options_(declared_options().checked(options)) {}

nlohmann::json GaussianSmoothing::options() const { return declared_options().write(options_); }

at::Tensor GaussianSmoothing::apply(const at::Tensor& pixels) const {
  check_pixels(pixels, "input-gaussian-smoothing");
  const double sigma = options_.sigma();
  auto size = static_cast<std::int64_t>(std::ceil(6 * sigma + 1));
  if (size % 2 == 0) ++size;
  const auto radius = (size - 1) / 2;
  const auto offsets = torch::arange(-radius, radius + 1, torch::kFloat);
  auto line = torch::exp(-offsets * offsets / (2 * sigma * sigma));
  line = line / line.sum();
  const auto channels = pixels.size(1);
  const auto kernel = torch::outer(line, line).expand({channels, 1, size, size}).contiguous().to(pixels.device());
  return F::conv2d(replicate_edges(pixels, radius), kernel, F::Conv2dFuncOptions().groups(channels));
}

const OptionBinding<MedianSmoothingOptions>& MedianSmoothing::declared_options() {
  static const auto binding = [] {
    OptionBinding<MedianSmoothingOptions> b("the input-median-smoothing transform");
    b.describe("Replace every input pixel by the median of its window")
        .integer(WMARK_OPTION_FIELD(kernel), "odd side of the square window", 1, 15);
    return b;
  }();
  return binding;
}

MedianSmoothing::MedianSmoothing(MedianSmoothingOptions options) : options_(declared_options().checked(options)) {
  WMARK_CHECK(options_.kernel() % 2 == 1, "input-median-smoothing: the kernel must be odd, got ", options_.kernel());
}

nlohmann::json MedianSmoothing::options() const { return declared_options().write(options_); }

at::Tensor MedianSmoothing::apply(const at::Tensor& pixels) const {
  check_pixels(pixels, "input-median-smoothing");
  if (pixels.size(0) == 0) return pixels.clone();
  const auto k = options_.kernel();
  // The windows hold k*k values per pixel: a few images at a time bound the memory
  // (a 15x15 window over 1,000 CIFAR images would otherwise take 2.7 GB).
  const auto per_image = pixels[0].numel() * k * k;
  const auto chunk = std::max<std::int64_t>(1, (std::int64_t(1) << 24) / std::max<std::int64_t>(per_image, 1));
  std::vector<at::Tensor> parts;
  for (std::int64_t begin = 0; begin < pixels.size(0); begin += chunk) {
    const auto part = pixels.narrow(0, begin, std::min(chunk, pixels.size(0) - begin));
    const auto windows = replicate_edges(part, (k - 1) / 2).unfold(2, k, 1).unfold(3, k, 1);  // [n,C,H,W,k,k]
    parts.push_back(
        std::get<0>(windows.reshape({part.size(0), part.size(1), part.size(2), part.size(3), k * k}).median(-1)));
  }
  return torch::cat(parts);
}

}  // namespace wmark
