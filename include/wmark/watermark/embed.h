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
};

struct EmbedResult {
  TrainResult training;
  WatermarkKey key;
  /// Clean test accuracy before embedding (negative when training from scratch).
  double clean_accuracy_before = -1;
  double clean_accuracy_after = -1;
  double trigger_accuracy = 0;
};

/// Generates the trigger set for `splits.train`, trains `model` on the clean data
/// mixed with the triggers (a fresh model: from scratch; a trained one: fine-tuning),
/// and returns the key. `info` describes the model (architecture, dataset).
EmbedResult embed_trigger_watermark(NetworkPtr model, const DatasetSplits& splits,
                                    const TrainerOptions& training,
                                    const TriggerWatermarkOptions& options,
                                    const CheckpointInfo& info, bool pretrained = false);

}  // namespace wmark
