/// \file
/// Embedders: training-loop hooks that put a watermark into a model, and the key
/// that proves it afterwards.
///
/// Contract for an embedder: it is a TrainerHook (see train/hooks.h), so it works in
/// the Trainer and in a hand-written loop alike; it reports its progress as an epoch
/// metric ("trigger_accuracy" for trigger sets); key() returns a key that the Verifier
/// accepts for a model this embedder marked. Every embedder passes tests/conformance.
#pragma once

#include <memory>
#include <string>

#include <torch/arg.h>

#include "wmark/train/hooks.h"
#include "wmark/watermark/key.h"
#include "wmark/watermark/trigger/trigger_generator.h"

namespace wmark {

/// A scheme that marks a model while it trains.
class Embedder : public TrainerHook {
 public:
  /// Key method name, e.g. "trigger-set".
  virtual std::string method() const = 0;
  /// The key proving this watermark.
  virtual WatermarkKey key() const = 0;
};

struct TriggerEmbedderOptions {
  /// Trigger samples added per clean sample of a batch (0.1: 6 triggers to 64 samples).
  /// 0 = automatic in embed_trigger_watermark() (see auto_trigger_ratio()).
  TORCH_ARG(double, trigger_ratio) = 0.0;
  /// Stop training once the trigger accuracy reaches this after an epoch (0 = never).
  TORCH_ARG(double, stop_at_trigger_accuracy) = 0.0;
};

/// Black-box trigger-set embedding: mixes trigger samples into every training batch
/// so the model learns both tasks in the same steps (Zhang et al.).
class TriggerEmbedder : public Embedder {
 public:
  /// `key_base` holds the key fields the embedder cannot know (dataset, params, seed).
  TriggerEmbedder(TriggerSet triggers, WatermarkKey key_base, TriggerEmbedderOptions options = {});

  std::string method() const override { return "trigger-set"; }
  WatermarkKey key() const override;

  /// Appends round(ratio * clean samples) triggers, cycling through a seeded order.
  void extend_batch(Batch& batch, const StepContext& context) override;
  /// Adds "trigger_accuracy"; requests a stop at the configured accuracy.
  void on_epoch_end(EpochStats& stats, Network& model) override;

  /// Fraction of triggers the model labels with their watermark labels.
  double trigger_accuracy(Network& model, c10::Device device = c10::Device(c10::kCPU)) const;
  const TriggerSet& triggers() const { return triggers_; }
  TriggerEmbedderOptions& options() { return options_; }

 private:
  TriggerSet triggers_;
  WatermarkKey key_base_;
  TriggerEmbedderOptions options_;
  at::Tensor order_;
  std::int64_t cursor_ = 0;
};

}  // namespace wmark
