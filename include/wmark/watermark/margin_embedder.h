/// \file
/// Margin-based trigger embedding (Kim et al., "Margin-based Neural Network
/// Watermarking", ICML 2023): each trigger is pushed by projected gradient ascent away
/// from its watermark label before the batch learns it, so the model keeps the label
/// over a whole neighbourhood of the trigger, a margin that a copy trained on the
/// model's answers is meant to inherit.
#pragma once

#include <cstdint>
#include <string>

#include <torch/arg.h>

#include "wmark/models/network.h"
#include "wmark/util/export.h"
#include "wmark/watermark/embedder.h"

namespace wmark {

/// The gradient ascent of a MarginEmbedder. Each field is a TORCH_ARG.
struct MarginOptions {
  /// Ascent steps per presentation (the paper: 5); 0 presents the triggers unmoved.
  TORCH_ARG(std::int64_t, steps) = 5;
  /// Signed-gradient step on the [0,1] pixel scale (the paper: 1/255). Pixels are
  /// rounded to whole levels after every step, so a trigger moves at most
  /// steps * step (rounded) in every pixel.
  TORCH_ARG(double, step) = 1.0 / 255.0;
};

/// `images` (uint8 [K,C,H,W]) after `margin.steps()` signed-gradient steps that raise
/// `model`'s cross-entropy on `labels`, each rounded to whole pixel levels: the ascent a
/// MarginEmbedder trains against, and a measure of a model's margin around its triggers
/// (its accuracy on the moved triggers). Leaves the model in eval mode and its
/// parameters' gradients untouched.
WMARK_API at::Tensor margin_ascent(Network& model, const at::Tensor& images, const at::Tensor& labels,
                                   const Normalization& normalization, const MarginOptions& margin,
                                   c10::Device device);

/// A TriggerEmbedder whose triggers are presented after `steps` signed-gradient steps
/// that raise the model's loss on their watermark labels (computed in eval mode, the
/// mode the model is restored to afterwards; the parameters' gradients are untouched).
/// Costs `steps` extra forward and backward passes over the triggers of every batch.
class WMARK_API MarginEmbedder : public TriggerEmbedder {
 public:
  /// `model` is the network being trained (the ascent follows it). Requires a model, a
  /// non-empty trigger set, steps >= 0 and a step in (0, 1]; throws wmark::Error otherwise.
  MarginEmbedder(NetworkPtr model, TriggerSet triggers, WatermarkKey key_base, TriggerEmbedderOptions options,
                 MarginOptions margin);
  /// "margin".
  std::string method() const override { return "margin"; }

 protected:
  /// The stored triggers moved by the ascent against the model as it is now.
  at::Tensor presented_images(const at::Tensor& index) override;

 private:
  NetworkPtr model_;
  MarginOptions margin_;
};

}  // namespace wmark
