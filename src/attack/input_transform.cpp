#include "wmark/attack/input_transform.h"

#include <torch/torch.h>

#include "wmark/attack/input_transforms.h"
#include "wmark/util/error.h"

namespace wmark {

InputTransformRegistry InputTransformRegistry::with_builtins() {
  InputTransformRegistry registry;
  registry.add<JpegCompression>("jpeg-compression", JpegCompression::declared_options());
  registry.add<InputQuantization>("input-quantization", InputQuantization::declared_options());
  registry.add<FeatureSqueezing>("feature-squeezing", FeatureSqueezing::declared_options());
  registry.add<GaussianSmoothing>("input-gaussian-smoothing", GaussianSmoothing::declared_options());
  registry.add<MedianSmoothing>("input-median-smoothing", MedianSmoothing::declared_options());
  registry.add<InputNoising>("input-noising", InputNoising::declared_options());
  registry.add<InputFlipping>("input-flipping", InputFlipping::declared_options());
  return registry;
}

InputTransformRegistry& input_transform_registry() {
  static InputTransformRegistry registry = InputTransformRegistry::with_builtins();
  return registry;
}

void check_pixels(const at::Tensor& pixels, const std::string& what) {
  WMARK_CHECK(pixels.defined() && pixels.dim() == 4 && pixels.scalar_type() == torch::kFloat, what,
              " transforms float pixels [N,C,H,W], got ",
              pixels.defined() ? c10::toString(pixels.scalar_type()) : "an undefined tensor", " ",
              pixels.defined() ? pixels.sizes() : at::IntArrayRef{});
}

}  // namespace wmark
