#include "wmark/watermark/embedder.h"

#include <torch/torch.h>

#include <cmath>

#include "wmark/models/network.h"
#include "wmark/train/evaluate.h"
#include "wmark/util/error.h"
#include "wmark/util/random.h"

namespace wmark {

Batch Embedder::mix(const at::Tensor& images, const at::Tensor& labels) {
  return Batch{images, labels, images.size(0)};
}

at::Tensor Embedder::loss_term(const Batch&, const at::Tensor&, Network&) { return {}; }

void Embedder::extend_batch(Batch& batch, const StepContext&) {
  // The Trainer's batch holds only clean samples here; hooks after this one see the mix.
  const auto clean = batch.clean_size;
  batch = mix(batch.images, batch.labels);
  batch.clean_size = clean;
}

at::Tensor Embedder::extra_loss(const Batch& batch, const at::Tensor& logits, Network& model, const StepContext&) {
  return loss_term(batch, logits, model);
}

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

Batch TriggerEmbedder::mix(const at::Tensor& images, const at::Tensor& labels) {
  WMARK_CHECK(images.dim() == 4 && images.sizes().slice(1) == triggers_.images.sizes().slice(1),
              "trigger embedding: batch images must be [B,", key_base_.input_shape.channels, ",",
              key_base_.input_shape.height, ",", key_base_.input_shape.width, "] (the key's input shape), got ",
              images.sizes());
  WMARK_CHECK(labels.dim() == 1 && labels.size(0) == images.size(0), "trigger embedding: labels must be [",
              images.size(0), "] for a batch of ", images.size(0), ", got ", labels.sizes());
  const auto clean = images.size(0);
  const auto want = std::max<std::int64_t>(1, std::llround(options_.trigger_ratio() * static_cast<double>(clean)));
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
  auto extra = triggers_.images.index_select(0, index);
  // A raw batch gets raw triggers (the Trainer normalises later); a normalised one
  // gets them normalised as the key records.
  if (images.scalar_type() != torch::kUInt8) {
    extra = key_base_.normalization.apply(extra).to(images.device(), images.scalar_type());
  } else {
    extra = extra.to(images.device());
  }
  return Batch{torch::cat({images, extra}),
               torch::cat({labels, triggers_.labels.index_select(0, index).to(labels.device())}), clean};
}

double TriggerEmbedder::trigger_accuracy(Network& model) const {
  const auto params = model.parameters();
  const auto device = params.empty() ? c10::Device(c10::kCPU) : params.front().device();
  return accuracy(model, triggers_.images, triggers_.labels, key_base_.normalization, device);
}

void TriggerEmbedder::on_epoch_end(EpochStats& stats, Network& model) {
  const double acc = trigger_accuracy(model);
  stats.metrics["trigger_accuracy"] = acc;
  if (options_.stop_at_trigger_accuracy() > 0 && acc >= options_.stop_at_trigger_accuracy()) stats.stop = true;
}

}  // namespace wmark
