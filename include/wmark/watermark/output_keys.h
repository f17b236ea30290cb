/// \file
/// DeepSigns' output-layer keys (Rouhani et al., "DeepSigns", black-box variant):
/// inputs that a trained model classifies with low confidence (the tails of its class
/// distributions) are given secret labels by fine-tuning; only keys that unwatermarked
/// reference models do not map to those labels are kept, so a clean model matches
/// few of them. The key (method "deepsigns-output") is proved by the same black-box
/// Verifier as a trigger set.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <torch/arg.h>

#include "wmark/util/export.h"
#include "wmark/watermark/embed.h"
#include "wmark/watermark/key_secret.h"

namespace wmark {

/// Options of embed_output_keys().
struct OutputKeyOptions {
  /// Keys kept in the final key.
  TORCH_ARG(std::int64_t, keys) = 100;
  /// Candidates drawn per kept key; the least confident 2 * keys are fine-tuned.
  TORCH_ARG(std::int64_t, oversample) = 10;
  /// "noise": uniform random images; "perturbed": training images plus Gaussian noise.
  TORCH_ARG(std::string, source) = "noise";
  /// Noise std of "perturbed" candidates, in pixel values (0-255).
  TORCH_ARG(double, perturbation) = 64.0;
  /// Most fine-tuning epochs (stops as soon as every candidate has its label).
  TORCH_ARG(std::int64_t, finetune_epochs) = 5;
  /// Fewest surviving keys accepted (fewer is an error: fine-tune longer, add candidates).
  TORCH_ARG(std::int64_t, min_keys) = 20;
  /// The secret the candidates and their labels derive from; a fresh one from the OS
  /// CSPRNG unless set.
  TORCH_ARG(KeySecret, secret);
};

/// Watermarks `model` with DeepSigns output-layer keys. A fresh model (`pretrained`
/// false) is first trained clean with `training`; then the least confident candidates
/// get random labels other than the model's own prediction and the model is fine-tuned
/// on the clean data mixed with them (at a tenth of the LR, schedule "none"); the keys
/// kept are those the marked model labels as chosen and that neither the model before
/// fine-tuning nor any of `references` (clean models of the same task) does.
/// `result.key` has method "deepsigns-output". Throws wmark::Error for invalid options
/// or too few surviving keys.
WMARK_API EmbedResult embed_output_keys(NetworkPtr model, const DatasetSplits& splits, const TrainerOptions& training,
                                        const OutputKeyOptions& options, const std::vector<NetworkPtr>& references,
                                        const CheckpointInfo& info, bool pretrained = false);

}  // namespace wmark
