/// \file
/// Embedders: training-loop hooks that put a watermark into a model, and the key
/// that proves it afterwards.
///
/// Contract for an embedder: it implements mix() (samples to add to a batch) and/or
/// loss_term() (a term to add to the loss); the Trainer reaches both through the
/// TrainerHook methods, which only forward to them, and a hand-written loop calls them
/// directly, so both loops run the same code. It reports its progress as an epoch
/// metric ("trigger_accuracy" for trigger sets); key() returns a key that the Verifier
/// accepts for a model this embedder marked; it never logs key material. Every
/// embedder passes tests/conformance.
///
/// In a hand-written loop (see examples/custom_training_loop.cpp):
/// \code
///   auto batch = embedder->mix(x, y);            // x: normalised float or raw uint8
///   auto logits = model->forward(batch.images);
///   auto loss = torch::nn::functional::cross_entropy(logits, batch.labels);
///   if (auto extra = embedder->loss_term(batch, logits, net); extra.defined()) loss = loss + extra;
/// \endcode
#pragma once

#include <memory>
#include <string>

#include <torch/arg.h>

#include "wmark/train/hooks.h"
#include "wmark/watermark/key.h"
#include "wmark/util/export.h"
#include "wmark/watermark/trigger/trigger_generator.h"

namespace wmark {

/// A scheme that marks a model while it trains.
class WMARK_API Embedder : public TrainerHook {
 public:
  /// Key method name, e.g. "trigger-set".
  virtual std::string method() const = 0;
  /// The key proving this watermark.
  virtual WatermarkKey key() const = 0;

  /// The batch with this scheme's samples appended (as is by default). `images` are
  /// either raw uint8 [B,C,H,W] (appended samples stay raw) or normalised float
  /// (appended samples are normalised with the key's normalisation and moved to the
  /// batch's device and dtype); `labels` int64 [B]. The result's clean_size is B.
  virtual Batch mix(const at::Tensor& images, const at::Tensor& labels);
  /// A term to add to the training loss for `batch` (as returned by mix()) and its
  /// `logits`, or an undefined tensor for none (the default).
  virtual at::Tensor loss_term(const Batch& batch, const at::Tensor& logits, Network& model);

  /// TrainerHook: replaces the batch by mix(batch.images, batch.labels).
  void extend_batch(Batch& batch, const StepContext& context) final;
  /// TrainerHook: loss_term(batch, logits, model).
  at::Tensor extra_loss(const Batch& batch, const at::Tensor& logits, Network& model,
                        const StepContext& context) final;
  /// Data-parallel training: this process holds shard `rank` of `world_size` of every
  /// global batch, so mix() adds this rank's share of the samples the whole global
  /// batch gets (the Trainer sets it from the StepContext; a hand-written distributed
  /// loop calls it once). Requires 0 <= rank < world_size.
  void set_shard(int rank, int world_size);

 protected:
  /// The batch with raw uint8 `extra` samples [K,C,H,W] and their `extra_labels`
  /// appended: kept raw for a raw batch, else normalised with `normalization` and moved
  /// to the batch's device and dtype (the mix() contract). Throws wmark::Error naming
  /// `what` if the batch's image shape differs from the samples' or labels do not fit.
  static Batch append_samples(const at::Tensor& images, const at::Tensor& labels, const at::Tensor& extra,
                              const at::Tensor& extra_labels, const Normalization& normalization,
                              const std::string& what);
  int shard_rank_ = 0;   ///< this process's shard of a global batch (set_shard())
  int shard_world_ = 1;  ///< shards per global batch
};

/// Draws indices 0..n-1 in a seeded shuffled order, cycling, so that each index is
/// drawn equally often (for samples an embedder adds to every batch).
class WMARK_API CyclicSampler {
 public:
  /// A sampler over `n` >= 1 indices in the order drawn from `seed`.
  CyclicSampler(std::int64_t n, std::uint64_t seed);
  /// The next `count` indices, int64 [count]. With `world` > 1 the next `count * world`
  /// are drawn and shard `rank`'s `count` of them returned, so that `world` processes
  /// drawing alike together take what one process drawing `count * world` would.
  at::Tensor next(std::int64_t count, int rank = 0, int world = 1);

 private:
  at::Tensor order_;
  std::int64_t cursor_ = 0;
};

/// Options of a TriggerEmbedder.
struct TriggerEmbedderOptions {
  /// Trigger samples added per clean sample of a batch (0.1: 6 triggers to 64 samples).
  /// 0 = automatic in embed_trigger_watermark() (see auto_trigger_ratio()).
  TORCH_ARG(double, trigger_ratio) = 0.0;
  /// Stop training once the trigger accuracy reaches this after an epoch (0 = never).
  TORCH_ARG(double, stop_at_trigger_accuracy) = 0.0;
};

/// Black-box trigger-set embedding: mixes trigger samples into every training batch
/// so the model learns both tasks in the same steps (Zhang et al.).
class WMARK_API TriggerEmbedder : public Embedder {
 public:
  /// `key_base` holds the key fields the embedder cannot know (dataset, params, seed,
  /// normalisation). Requires a non-empty trigger set and a ratio in (0, 4].
  /// make_trigger_embedder() (watermark/embed.h) builds one from a dataset.
  TriggerEmbedder(TriggerSet triggers, WatermarkKey key_base, TriggerEmbedderOptions options = {});

  /// "trigger-set".
  std::string method() const override { return "trigger-set"; }
  /// The base key plus the trigger images and labels.
  WatermarkKey key() const override;

  /// Appends max(1, round(ratio * B)) triggers, cycling through a seeded order so
  /// that every trigger is seen equally often. Requires images of the key's shape.
  Batch mix(const at::Tensor& images, const at::Tensor& labels) override;
  /// Adds "trigger_accuracy"; requests a stop at the configured accuracy.
  void on_epoch_end(EpochStats& stats, Network& model) override;

  /// Fraction of triggers `model` labels with their watermark labels, evaluated on the
  /// device of the model's parameters. Leaves the model in eval mode.
  double trigger_accuracy(Network& model) const;
  /// The secret trigger set.
  const TriggerSet& triggers() const { return triggers_; }
  /// The options, mutable (embed_trigger_watermark() sets a stop accuracy for consolidation).
  TriggerEmbedderOptions& options() { return options_; }

 protected:
  /// The images of triggers `index` (int64 [K]) as a batch gets them, uint8 [K,C,H,W]:
  /// the stored ones; a subclass may move them (margin: towards the decision frontier).
  virtual at::Tensor presented_images(const at::Tensor& index);
  /// The normalisation the key records (what the model's inputs go through).
  const Normalization& normalization() const { return key_base_.normalization; }
  /// Replaces the stored trigger images (uint8, the same shape) for the rest of
  /// training and in key() (ewe: triggers moved towards the target class's features).
  /// Throws wmark::Error for another shape or dtype.
  void replace_trigger_images(const at::Tensor& images);

 private:
  TriggerSet triggers_;
  WatermarkKey key_base_;
  TriggerEmbedderOptions options_;
  CyclicSampler sampler_;
};

}  // namespace wmark
