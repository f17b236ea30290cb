/// \file
/// One call to watermark a model with a trigger set: from scratch or into a
/// pre-trained model, through the same Trainer.
#pragma once

#include <string>

#include <nlohmann/json.hpp>
#include <torch/arg.h>

#include "wmark/train/trainer.h"
#include "wmark/watermark/embedder.h"

namespace wmark {

struct TriggerWatermarkOptions {
  /// Generator name in trigger_registry() and its options.
  TORCH_ARG(std::string, trigger) = "content";
  TORCH_ARG(nlohmann::json, trigger_options) = nlohmann::json::object();
  TORCH_ARG(TriggerSpec, spec);
  TORCH_ARG(TriggerEmbedderOptions, embedder);
  /// If the trigger accuracy is below this after training, training goes on (same data,
  /// stopping as soon as it is reached) for at most `max_extra_epochs` epochs.
  TORCH_ARG(double, min_trigger_accuracy) = 0.95;
  TORCH_ARG(std::int64_t, max_extra_epochs) = 5;
};

/// The automatic trigger ratio: 0.1 for a single target class; for random labels enough
/// that each trigger is seen about 20 times per epoch, within [0.1, 0.3].
double auto_trigger_ratio(std::int64_t train_size, std::int64_t trigger_size, const std::string& label_policy);

struct EmbedResult {
  TrainResult training;
  WatermarkKey key;
  /// Clean test accuracy before embedding (negative when training from scratch).
  double clean_accuracy_before = -1;
  double clean_accuracy_after = -1;
  double trigger_accuracy = 0;
  /// The trigger ratio used and the consolidation epochs that were needed.
  double trigger_ratio = 0;
  std::int64_t extra_epochs = 0;
};

/// Generates the trigger set for `splits.train`, trains `model` on the clean data
/// mixed with the triggers (a fresh model: from scratch; a trained one: fine-tuning),
/// and returns the key. `info` describes the model (architecture, dataset).
EmbedResult embed_trigger_watermark(NetworkPtr model, const DatasetSplits& splits,
                                    const TrainerOptions& training,
                                    const TriggerWatermarkOptions& options,
                                    const CheckpointInfo& info, bool pretrained = false);

}  // namespace wmark
