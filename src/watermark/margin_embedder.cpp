#include "wmark/watermark/margin_embedder.h"

#include <torch/torch.h>

#include "fgsm_step.h"
#include "wmark/util/error.h"

namespace wmark {

MarginEmbedder::MarginEmbedder(NetworkPtr model, TriggerSet triggers, WatermarkKey key_base,
                               TriggerEmbedderOptions options, MarginOptions margin)
    : TriggerEmbedder(std::move(triggers), std::move(key_base), options), model_(std::move(model)), margin_(margin) {
  WMARK_CHECK(model_, "margin embedding needs the model it trains");
  WMARK_CHECK(margin_.steps() >= 0, "margin: steps must be >= 0, got ", margin_.steps());
  WMARK_CHECK(margin_.step() > 0 && margin_.step() <= 1, "margin: step must be in (0, 1], got ", margin_.step());
}

at::Tensor MarginEmbedder::presented_images(const at::Tensor& index) {
  auto images = TriggerEmbedder::presented_images(index);
  if (margin_.steps() == 0) return images;
  const auto params = model_->parameters();
  const auto device = params.empty() ? c10::Device(c10::kCPU) : params.front().device();
  const bool training = model_->is_training();
  images = margin_ascent(*model_, images, triggers().labels.index_select(0, index), normalization(), margin_, device);
  model_->train(training);
  return images;
}

at::Tensor margin_ascent(Network& model, const at::Tensor& images, const at::Tensor& labels,
                         const Normalization& normalization, const MarginOptions& margin, c10::Device device) {
  // Each step starts from the last rounded image, so the total move stays within
  // steps * step per pixel: the paper's projection onto that box, implicitly.
  auto moved = images;
  for (std::int64_t s = 0; s < margin.steps(); ++s) {
    moved = fgsm_step(model, moved, labels, normalization, margin.step(), device);
  }
  return moved;
}

}  // namespace wmark
