#include "wmark/watermark/whitebox/deepsigns.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>

#include "wmark/models/network.h"
#include "wmark/util/error.h"
#include "wmark/watermark/whitebox/uchida.h"
#include "../key_base.h"

namespace wmark {
namespace {

c10::Device device_of(Network& model) {
  const auto params = model.parameters();
  return params.empty() ? c10::Device(c10::kCPU) : params.front().device();
}

// Mean activation of `layer` over raw uint8 `images`, [D]; eval mode, no gradients
// (the training mode is restored).
at::Tensor mean_activation(Network& model, const std::string& layer, const at::Tensor& images,
                           const Normalization& normalization) {
  ActivationCapture capture(model, layer);
  const bool was_training = model.is_training();
  model.eval();
  torch::NoGradGuard no_grad;
  const auto device = device_of(model);
  at::Tensor sum;
  constexpr std::int64_t kChunk = 256;
  for (std::int64_t start = 0; start < images.size(0); start += kChunk) {
    const auto chunk = images.narrow(0, start, std::min(kChunk, images.size(0) - start));
    model.forward(normalization.apply(chunk.to(device)));
    auto part = capture.flat().to(torch::kFloat).sum(0);
    sum = sum.defined() ? sum + part : part;
  }
  model.train(was_training);
  return sum / static_cast<double>(images.size(0));
}

std::string default_layer(Network& model) {
  const auto layers = model.tapped_layers();
  WMARK_CHECK(layers.size() >= 2, "the model taps ", layers.size(),
              " layer(s); name the hidden layer for DeepSigns explicitly (a Network exposes layers through tap())");
  return layers[layers.size() - 2];
}

}  // namespace

DeepSignsEmbedder::DeepSignsEmbedder(NetworkPtr model, const Dataset& train, DeepSignsOptions options,
                                     WatermarkKey key_base)
    : model_(std::move(model)), options_(std::move(options)), key_base_(std::move(key_base)) {
  WMARK_CHECK(model_, "deepsigns: no model");
  WMARK_CHECK(options_.bits() >= 1, "deepsigns: bits must be at least 1, got ", options_.bits());
  WMARK_CHECK(options_.key_inputs() >= 2, "deepsigns: key_inputs must be at least 2, got ", options_.key_inputs());
  WMARK_CHECK(options_.key_batch() >= 2, "deepsigns: key_batch must be at least 2, got ", options_.key_batch());
  WMARK_CHECK(options_.strength() > 0, "deepsigns: strength must be positive, got ", options_.strength());
  WMARK_CHECK(options_.compactness() >= 0 && options_.separation() >= 0,
              "deepsigns: compactness and separation must not be negative");
  WMARK_CHECK(train.size() > 0, "deepsigns: the training data is empty");
  layer_ = options_.layer().empty() ? default_layer(*model_) : options_.layer();
  { ActivationCapture check(*model_, layer_); }  // refuses a layer the model does not tap, listing those it does

  // Target classes: given, or one drawn from the secret.
  targets_ = options_.target_classes();
  if (targets_.empty()) {
    targets_.push_back(options_.secret().stream("deepsigns-target").uniform(train.num_classes));
  }
  std::sort(targets_.begin(), targets_.end());
  targets_.erase(std::unique(targets_.begin(), targets_.end()), targets_.end());
  for (auto t : targets_) {
    WMARK_CHECK(t >= 0 && t < train.num_classes, "deepsigns: target class ", t, " is outside [0, ",
                train.num_classes, ")");
  }
  // Key inputs: samples of the target classes from the public sources (else the
  // training data), drawn from the secret.
  const auto& sources = options_.sources() ? *options_.sources() : train;
  WMARK_CHECK(sources.shape() == train.shape() && sources.num_classes == train.num_classes,
              "deepsigns: the key-input sources do not match the training data's shape and classes");
  sources_ = {{"dataset", sources.name}, {"size", sources.size()}};
  const auto available = torch::isin(sources.labels, torch::tensor(targets_, torch::kLong)).sum().item<std::int64_t>();
  WMARK_CHECK(available >= 2, "deepsigns: the training data has ", available,
              " samples of the target classes; at least 2 are needed");
  const auto count = std::min(options_.key_inputs(), available);
  const auto chosen = draw_deepsigns_inputs(sources, targets_, count, options_.secret());
  key_images_ = sources.images.index_select(0, chosen).contiguous();
  key_labels_ = sources.labels.index_select(0, chosen).contiguous();
  sampler_.emplace(count, options_.secret().stream("deepsigns-order").next_u64());

  // A: D x N, scaled so that mu A stays of order one for activations of order one.
  const auto features = mean_activation(*model_, layer_, key_images_.narrow(0, 0, 2), train.normalization).size(0);
  projection_ = deepsigns_projection(options_.secret(), features, options_.bits());
  bits_ = watermark_bits(options_.secret(), options_.signature(), options_.bits(), "deepsigns-bits");
  model_->capture(layer_);  // last: nothing after this may throw, or the capture would leak
}

DeepSignsEmbedder::~DeepSignsEmbedder() { model_->release(layer_); }

at::Tensor deepsigns_projection(const KeySecret& secret, std::int64_t features, std::int64_t bits) {
  // Scaled so that mu A stays of order one for activations of order one.
  return secret.stream("deepsigns-projection").normal({features, bits}) / std::sqrt(static_cast<double>(features));
}

at::Tensor draw_deepsigns_inputs(const Dataset& sources, const std::vector<std::int64_t>& targets, std::int64_t count,
                                 const KeySecret& secret) {
  const auto candidates = torch::isin(sources.labels, torch::tensor(targets, torch::kLong)).nonzero().flatten();
  WMARK_CHECK(count >= 1 && candidates.size(0) >= count, "deepsigns: ", count, " key inputs asked for, ",
              candidates.size(0), " samples of the target classes available");
  return candidates.index_select(0, secret.stream("deepsigns-inputs").sample(candidates.size(0), count));
}

WatermarkKey DeepSignsEmbedder::key() const {
  WatermarkKey key = key_base_;
  key.method = method();
  key.secret = options_.secret();
  key.params["layer"] = layer_;
  key.params["bits"] = options_.bits();
  key.params["target_classes"] = targets_;
  key.params["strength"] = options_.strength();
  key.params["compactness"] = options_.compactness();
  key.params["signature"] = options_.signature();  // the text the bits spell; empty = bits from the secret
  key.params["key_sources"] = sources_;            // where the key inputs were drawn: what re-deriving needs
  key.params["chance_rate"] = 0.5;  // a model never trained with A agrees with b by chance
  key.tensors["projection"] = projection_.cpu();
  key.tensors["bits"] = bits_.cpu().to(torch::kUInt8);
  key.tensors["images"] = key_images_;
  key.tensors["labels"] = key_labels_;
  if (key.created.empty()) key.created = utc_now_iso8601();
  return key;
}

Batch DeepSignsEmbedder::mix(const at::Tensor& images, const at::Tensor& labels) {
  const auto index = sampler_->next(options_.key_batch(), shard_rank_, shard_world_);
  offset_ = images.dim() >= 1 ? images.size(0) : 0;
  appended_ = index.size(0);
  return append_samples(images, labels, key_images_.index_select(0, index), key_labels_.index_select(0, index),
                        key_base_.normalization, "deepsigns embedding");
}

at::Tensor DeepSignsEmbedder::loss_term(const Batch& batch, const at::Tensor& logits, Network& model) {
  WMARK_CHECK(&model == model_.get(), "deepsigns: loss_term() got another model than the embedder was built for");
  WMARK_CHECK(appended_ > 0, "deepsigns: call mix() on the batch before loss_term()");
  const auto activation = model.captured(layer_);
  WMARK_CHECK(activation.defined() && activation.size(0) == batch.images.size(0) &&
                  offset_ + appended_ <= activation.size(0),
              "deepsigns: the model's last forward() was not on this batch (", batch.images.size(0),
              " images); forward the batch returned by mix() before loss_term()");
  (void)logits;
  const auto features = activation.flatten(1).to(torch::kFloat);
  const auto dims = static_cast<double>(features.size(1));
  if (projection_.device() != features.device()) {
    projection_ = projection_.to(features.device());
    bits_ = bits_.to(features.device());
  }
  // loss2: the key inputs' mean activation, projected, carries the bits.
  const auto mu = features.narrow(0, offset_, appended_).mean(0);
  auto loss = options_.strength() * torch::binary_cross_entropy_with_logits(mu.matmul(projection_), bits_);
  if (options_.compactness() <= 0) return loss;

  // loss1: target classes compact around their centres, centres apart.
  const auto labels = batch.labels.to(features.device());
  if (!centres_.defined()) {
    centres_ = torch::zeros({static_cast<std::int64_t>(targets_.size()), features.size(1)}, features.options());
    seen_ = std::vector<bool>(targets_.size(), false);
  }
  std::vector<at::Tensor> means;
  at::Tensor compact = torch::zeros({}, features.options());
  for (std::size_t j = 0; j < targets_.size(); ++j) {
    const auto rows = features.index({labels.eq(targets_[j])});
    if (rows.size(0) == 0) continue;
    const auto mean = rows.mean(0);
    {
      torch::NoGradGuard no_grad;  // the centre is a running mean, not a trained parameter
      centres_[j] = seen_[j] ? 0.9 * centres_[j] + 0.1 * mean.detach() : mean.detach();
      seen_[j] = true;
    }
    compact = compact + (rows - centres_[j]).pow(2).sum(1).mean() / dims;
    means.push_back(mean);
  }
  at::Tensor apart = torch::zeros({}, features.options());
  for (std::size_t j = 0; j < means.size(); ++j) {
    for (std::size_t k = j + 1; k < means.size(); ++k) {
      apart = apart + torch::relu(options_.separation() - (means[j] - means[k]).pow(2).sum() / dims);
    }
  }
  return loss + options_.compactness() * (compact + apart);
}

void DeepSignsEmbedder::on_epoch_end(EpochStats& stats, Network& model) {
  const auto extracted = extract_deepsigns_bits(model, key());
  stats.metrics["bit_error_rate"] =
      extracted.ne(bits_.cpu().to(torch::kUInt8)).to(torch::kDouble).mean().item<double>();
}

std::shared_ptr<DeepSignsEmbedder> make_deepsigns_embedder(NetworkPtr model, const Dataset& train,
                                                           const DeepSignsOptions& options, const std::string& arch) {
  return std::make_shared<DeepSignsEmbedder>(std::move(model), train, options, key_base(train, arch));
}

at::Tensor extract_deepsigns_bits(Network& model, const WatermarkKey& key) {
  WMARK_CHECK(key.method == "deepsigns", "not a DeepSigns key (method '", key.method, "')");
  const auto layer = key.params.value("layer", std::string());
  const auto& projection = key.tensor("projection");
  const auto& images = key.tensor("images");
  WMARK_CHECK(projection.dim() == 2 && images.dim() == 4 && images.size(0) > 0,
              "malformed deepsigns key: projection ", projection.sizes(), ", key inputs ", images.sizes());
  const auto mu = mean_activation(model, layer, images, key.normalization);
  WMARK_CHECK(mu.size(0) == projection.size(0), "the key's projection expects ", projection.size(0),
              " activations of layer '", layer, "' but the model's layer has ", mu.size(0),
              ": another architecture?");
  return mu.matmul(projection.to(mu.device(), torch::kFloat)).gt(0).to(torch::kUInt8).cpu();
}

}  // namespace wmark
