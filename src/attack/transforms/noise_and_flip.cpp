// Transforms that perturb or mirror the input: input noising and input flipping.
#include <torch/torch.h>

#include <string_view>

#include "wmark/attack/input_transforms.h"
#include "wmark/util/random.h"

namespace wmark {

const OptionBinding<InputNoisingOptions>& InputNoising::declared_options() {
  static const auto binding = [] {
    OptionBinding<InputNoisingOptions> b("the input-noising transform");
    b.describe("Add Gaussian noise to every input, clipped to the pixel range")
        .number(WMARK_OPTION_FIELD(mean), "mean of the noise", -1.0, 1.0)
        .number(WMARK_OPTION_FIELD(std), "standard deviation of the noise (pixels in [0, 1])", 0.0, 1.0)
        .integer(WMARK_OPTION_FIELD(noise_seed), "seed of the noise (with each image's pixels)", 0);
    return b;
  }();
  return binding;
}

InputNoising::InputNoising(InputNoisingOptions options) : options_(declared_options().checked(options)) {}

nlohmann::json InputNoising::options() const { return declared_options().write(options_); }

at::Tensor InputNoising::apply(const at::Tensor& pixels) const {
  check_pixels(pixels, "input-noising");
  const auto cpu = pixels.to(torch::kCPU).contiguous();
  auto noise = torch::empty_like(cpu);
  for (std::int64_t i = 0; i < cpu.size(0); ++i) {
    // Each image's noise depends on the seed and its own pixels only: repeatable, and
    // independent of the batch it arrives in.
    const auto image = cpu[i];
    const std::string_view bytes(reinterpret_cast<const char*>(image.data_ptr<float>()),
                                 static_cast<std::size_t>(image.numel()) * sizeof(float));
    auto generator = make_generator(derive_seed(static_cast<std::uint64_t>(options_.noise_seed()), bytes));
    noise[i].copy_(torch::randn(image.sizes(), generator));
  }
  return (pixels + (noise * options_.std() + options_.mean()).to(pixels.device())).clamp(0, 1);
}

const OptionBinding<InputFlippingOptions>& InputFlipping::declared_options() {
  static const auto binding = [] {
    OptionBinding<InputFlippingOptions> b("the input-flipping transform");
    b.describe("Mirror every input left to right");
    return b;
  }();
  return binding;
}

InputFlipping::InputFlipping(InputFlippingOptions) {}

nlohmann::json InputFlipping::options() const { return nlohmann::json::object(); }

at::Tensor InputFlipping::apply(const at::Tensor& pixels) const {
  check_pixels(pixels, "input-flipping");
  return pixels.flip({3});
}

}  // namespace wmark
