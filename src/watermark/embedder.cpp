#include "wmark/watermark/embedder.h"

#include <torch/torch.h>

#include <cmath>

#include "wmark/models/network.h"
#include "wmark/train/evaluate.h"
#include "wmark/util/error.h"
#include "wmark/util/random.h"

namespace wmark {

TriggerEmbedder::TriggerEmbedder(TriggerSet triggers, WatermarkKey key_base, TriggerEmbedderOptions options)
    : triggers_(std::move(triggers)), key_base_(std::move(key_base)), options_(options) {
  WMARK_CHECK(triggers_.size() > 0, "the trigger set is empty");
  WMARK_CHECK(triggers_.labels.size(0) == triggers_.size(), "trigger images and labels differ in count");
  WMARK_CHECK(options_.trigger_ratio() > 0 && options_.trigger_ratio() <= 4,
              "trigger ratio must be in (0, 4] (0 = automatic is resolved by embed_trigger_watermark)");
  auto generator = make_generator(derive_seed(key_base_.seed, "trigger-order"));
  order_ = torch::randperm(triggers_.size(), generator, torch::kLong);
}

WatermarkKey TriggerEmbedder::key() const {
  WatermarkKey key = key_base_;
  key.method = method();
  key.tensors["images"] = triggers_.images;
  key.tensors["labels"] = triggers_.labels;
  if (key.created.empty()) key.created = utc_now_iso8601();
  return key;
}

void TriggerEmbedder::extend_batch(Batch& batch, const StepContext&) {
  const auto want = std::max<std::int64_t>(
      1, std::llround(options_.trigger_ratio() * static_cast<double>(batch.clean_size)));
  // Cycle through a fixed shuffled order so every trigger is seen equally often.
  std::vector<torch::Tensor> parts;
  std::int64_t left = want;
  while (left > 0) {
    const auto take = std::min(left, triggers_.size() - cursor_);
    parts.push_back(order_.narrow(0, cursor_, take));
    cursor_ = (cursor_ + take) % triggers_.size();
    left -= take;
  }
  auto index = parts.size() == 1 ? parts[0] : torch::cat(parts);
  batch.images = torch::cat({batch.images, triggers_.images.index_select(0, index)});
  batch.labels = torch::cat({batch.labels, triggers_.labels.index_select(0, index)});
}

double TriggerEmbedder::trigger_accuracy(Network& model, c10::Device device) const {
  return accuracy(model, triggers_.images, triggers_.labels, key_base_.normalization, device);
}

void TriggerEmbedder::on_epoch_end(EpochStats& stats, Network& model) {
  const auto params = model.parameters();
  const double acc = trigger_accuracy(model, params.empty() ? c10::Device(c10::kCPU) : params.front().device());
  stats.metrics["trigger_accuracy"] = acc;
  if (options_.stop_at_trigger_accuracy() > 0 && acc >= options_.stop_at_trigger_accuracy()) stats.stop = true;
}

}  // namespace wmark
