#include "wmark/data/image_convert.h"

#include <torch/torch.h>

#include "wmark/util/error.h"

namespace wmark {

at::Tensor convert_images(const at::Tensor& images, const ImageShape& shape) {
  WMARK_CHECK(images.dim() == 4 && images.scalar_type() == torch::kUInt8, "convert_images: expected uint8 [N,C,H,W], got ",
              images.scalar_type(), " ", images.sizes());
  const auto channels = images.size(1);
  WMARK_CHECK(channels == shape.channels || (channels == 3 && shape.channels == 1) ||
                  (channels == 1 && shape.channels == 3),
              "cannot convert images of ", channels, " channels to ", shape.channels);
  const bool same_size = images.size(2) == shape.height && images.size(3) == shape.width;
  if (channels == shape.channels && same_size) return images;
  auto x = images.to(torch::kFloat);
  if (channels == 3 && shape.channels == 1) {
    const auto luma = torch::tensor({0.299f, 0.587f, 0.114f}).view({1, 3, 1, 1});
    x = (x * luma).sum(1, /*keepdim=*/true);
  } else if (channels == 1 && shape.channels == 3) {
    x = x.expand({-1, 3, -1, -1});
  }
  if (!same_size) {
    namespace F = torch::nn::functional;
    const bool shrinking = shape.height < images.size(2) && shape.width < images.size(3);
    x = shrinking ? F::adaptive_avg_pool2d(x, F::AdaptiveAvgPool2dFuncOptions({shape.height, shape.width}))
                  : F::interpolate(x, F::InterpolateFuncOptions()
                                          .size(std::vector<std::int64_t>{shape.height, shape.width})
                                          .mode(torch::kBilinear)
                                          .align_corners(false));
  }
  return x.round_().clamp_(0, 255).to(torch::kUInt8).contiguous();
}

}  // namespace wmark
