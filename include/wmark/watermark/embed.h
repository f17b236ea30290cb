/// \file
/// One call to watermark a model with a trigger set: from scratch or into a
/// pre-trained model, through the same Trainer.
#pragma once

#include <memory>
#include <string>

#include <nlohmann/json.hpp>
#include <torch/arg.h>

#include "wmark/train/trainer.h"
#include "wmark/util/export.h"
#include "wmark/watermark/embedder.h"

namespace wmark {

/// What embed_trigger_watermark() and make_trigger_embedder() embed. Each field is a
/// TORCH_ARG: read it with `options.trigger()`, set it with the chained setter
/// `options.trigger("noise")`.
struct TriggerWatermarkOptions {
  /// Generator name in trigger_registry().
  TORCH_ARG(std::string, trigger) = "content";
  /// The generator's options (a JSON object; unknown keys are refused).
  TORCH_ARG(nlohmann::json, trigger_options) = nlohmann::json::object();
  /// Trigger count, label policy ("auto" = the generator's default), target and seed.
  TORCH_ARG(TriggerSpec, spec);
  /// Options of the TriggerEmbedder (trigger ratio 0 = auto_trigger_ratio()).
  TORCH_ARG(TriggerEmbedderOptions, embedder);
  /// If the trigger accuracy is below this after training, training goes on (same data,
  /// stopping as soon as it is reached) for at most `max_extra_epochs` epochs.
  TORCH_ARG(double, min_trigger_accuracy) = 0.95;
  /// Most consolidation epochs after training; 0 = none.
  TORCH_ARG(std::int64_t, max_extra_epochs) = 5;
};

/// What a trigger embedder is made of: the generated triggers, the key fields it records
/// and its options with the ratio resolved (see make_trigger_embedder()).
struct PreparedTriggers {
  TriggerSet triggers;              ///< the secret trigger set
  WatermarkKey key_base;            ///< the key without images and labels
  TriggerEmbedderOptions embedder;  ///< trigger ratio resolved (never 0)
};

/// The parts of make_trigger_embedder(), for embedders built on TriggerEmbedder (margin).
WMARK_API PreparedTriggers prepare_triggers(const Dataset& train, const TriggerWatermarkOptions& options,
                                            const std::string& arch = "custom");

/// The trigger embedder for a model trained on `train`: generates the trigger set with
/// the options' generator and spec, resolves the label policy and target, records the
/// key fields (generator, options, chance rate, `arch`, dataset, shape, normalisation)
/// and picks the automatic trigger ratio when the options leave it 0. This is the
/// entry point for a hand-written training loop; embed_trigger_watermark() uses it too.
/// Throws wmark::Error for an unknown generator or invalid options.
WMARK_API std::shared_ptr<TriggerEmbedder> make_trigger_embedder(const Dataset& train,
                                                                 const TriggerWatermarkOptions& options,
                                                                 const std::string& arch = "custom");

/// The automatic trigger ratio: 0.1 for a single target class; for random labels enough
/// that each trigger is seen about 20 times per epoch, within [0.1, 0.3].
WMARK_API double auto_trigger_ratio(std::int64_t train_size, std::int64_t trigger_size, const std::string& label_policy);

/// What embed_trigger_watermark() did and the key it made.
struct EmbedResult {
  /// The training run, consolidation epochs included.
  TrainResult training;
  /// The key that proves the watermark.
  WatermarkKey key;
  /// Clean test accuracy before embedding (negative when training from scratch).
  double clean_accuracy_before = -1;
  /// Clean test accuracy after embedding (negative without a test split).
  double clean_accuracy_after = -1;
  /// Fraction of the key's queries the final model answers with their key labels
  /// (black-box schemes; 0 for white-box ones).
  double trigger_accuracy = 0;
  /// The trigger ratio used.
  double trigger_ratio = 0;
  /// The consolidation epochs that were needed.
  std::int64_t extra_epochs = 0;
  /// Scheme-specific figures (e.g. "bit_error_rate" of a white-box mark).
  nlohmann::json details = nlohmann::json::object();
};

/// Generates the trigger set for `splits.train`, trains `model` on the clean data
/// mixed with the triggers (a fresh model: from scratch; a trained one: fine-tuning),
/// and returns the key. `info` describes the model (architecture, dataset). Requires a
/// non-null model that fits the training split's shape and classes; throws
/// wmark::Error otherwise, or for invalid options.
WMARK_API EmbedResult embed_trigger_watermark(NetworkPtr model, const DatasetSplits& splits,
                                              const TrainerOptions& training,
                                              const TriggerWatermarkOptions& options,
                                              const CheckpointInfo& info, bool pretrained = false);

/// The training part of embed_trigger_watermark() for a ready embedder: trains `model`
/// on `splits.train` with the embedder's samples mixed in; if the trigger accuracy is
/// then below `min_trigger_accuracy`, goes on for at most `max_extra_epochs` epochs at a
/// tenth of the LR until it is reached. `pretrained` records the clean accuracy before.
WMARK_API EmbedResult embed_with_trigger_embedder(NetworkPtr model, const DatasetSplits& splits,
                                                  const TrainerOptions& training,
                                                  std::shared_ptr<TriggerEmbedder> embedder,
                                                  double min_trigger_accuracy, std::int64_t max_extra_epochs,
                                                  const CheckpointInfo& info, bool pretrained = false);

}  // namespace wmark
