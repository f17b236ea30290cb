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

void Embedder::set_shard(int rank, int world_size) {
  WMARK_CHECK(world_size >= 1 && rank >= 0 && rank < world_size, "shard ", rank, " of ", world_size, " is invalid");
  shard_rank_ = rank;
  shard_world_ = world_size;
}

void Embedder::extend_batch(Batch& batch, const StepContext& context) {
  set_shard(context.rank, context.world_size);
  // The Trainer's batch holds only clean samples here; hooks after this one see the mix.
  const auto clean = batch.clean_size;
  batch = mix(batch.images, batch.labels);
  batch.clean_size = clean;
}

at::Tensor Embedder::extra_loss(const Batch& batch, const at::Tensor& logits, Network& model, const StepContext&) {
  return loss_term(batch, logits, model);
}

Batch Embedder::append_samples(const at::Tensor& images, const at::Tensor& labels, const at::Tensor& extra,
                               const at::Tensor& extra_labels, const Normalization& normalization,
                               const std::string& what) {
  WMARK_CHECK(images.dim() == 4 && images.sizes().slice(1) == extra.sizes().slice(1), what,
              ": batch images must be [B,", extra.size(1), ",", extra.size(2), ",", extra.size(3),
              "] (the key's input shape), got ", images.sizes());
  WMARK_CHECK(labels.dim() == 1 && labels.size(0) == images.size(0), what, ": labels must be [", images.size(0),
              "] for a batch of ", images.size(0), ", got ", labels.sizes());
  // A raw batch gets raw samples (the Trainer normalises later); a normalised one gets
  // them normalised as the key records.
  auto added = images.scalar_type() != torch::kUInt8
                   ? normalization.apply(extra).to(images.device(), images.scalar_type())
                   : extra.to(images.device());
  return Batch{torch::cat({images, added}), torch::cat({labels, extra_labels.to(labels.device())}), images.size(0)};
}

CyclicSampler::CyclicSampler(std::int64_t n, std::uint64_t seed) {
  WMARK_CHECK(n >= 1, "nothing to sample from");
  auto generator = make_generator(seed);
  order_ = torch::randperm(n, generator, torch::kLong);
}

at::Tensor CyclicSampler::next(std::int64_t count, int rank, int world) {
  WMARK_CHECK(world >= 1 && rank >= 0 && rank < world, "sampler shard ", rank, " of ", world, " is invalid");
  if (world > 1) return next(count * world).narrow(0, count * rank, count);
  const auto n = order_.size(0);
  std::vector<torch::Tensor> parts;
  while (count > 0) {
    const auto take = std::min(count, n - cursor_);
    parts.push_back(order_.narrow(0, cursor_, take));
    cursor_ = (cursor_ + take) % n;
    count -= take;
  }
  return parts.size() == 1 ? parts[0] : torch::cat(parts);
}

namespace {
const TriggerSet& checked(const TriggerSet& triggers) {
  WMARK_CHECK(triggers.size() > 0, "the trigger set is empty");
  WMARK_CHECK(triggers.labels.size(0) == triggers.size(), "trigger images and labels differ in count");
  return triggers;
}
}  // namespace

TriggerEmbedder::TriggerEmbedder(TriggerSet triggers, WatermarkKey key_base, TriggerEmbedderOptions options)
    : triggers_(std::move(triggers)),
      key_base_(std::move(key_base)),
      options_(options),
      sampler_(checked(triggers_).size(), key_base_.secret.stream("trigger-order").next_u64()) {
  WMARK_CHECK(options_.trigger_ratio() > 0 && options_.trigger_ratio() <= 4,
              "trigger ratio must be in (0, 4] (0 = automatic is resolved by embed_trigger_watermark)");
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
  const auto clean = images.dim() >= 1 ? images.size(0) : 0;
  const auto want = std::max<std::int64_t>(1, std::llround(options_.trigger_ratio() * static_cast<double>(clean)));
  const auto index = sampler_.next(want, shard_rank_, shard_world_);
  return append_samples(images, labels, presented_images(index), triggers_.labels.index_select(0, index),
                        key_base_.normalization, "trigger embedding");
}

at::Tensor TriggerEmbedder::presented_images(const at::Tensor& index) { return triggers_.images.index_select(0, index); }

void TriggerEmbedder::replace_trigger_images(const at::Tensor& images) {
  WMARK_CHECK(images.defined() && images.sizes() == triggers_.images.sizes() &&
                  images.scalar_type() == triggers_.images.scalar_type(),
              "replacement trigger images must be uint8 ", triggers_.images.sizes(), ", got ",
              images.defined() ? images.sizes() : c10::IntArrayRef{});
  triggers_.images = images.contiguous();
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
