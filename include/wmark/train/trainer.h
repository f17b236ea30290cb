/// \file
/// The one training loop: clean training, watermark embedding (through hooks),
/// fine-tuning attacks and resumed runs all go through it.
#pragma once

#include <memory>
#include <vector>

#include "wmark/data/dataset.h"
#include "wmark/models/checkpoint.h"
#include "wmark/models/network.h"
#include "wmark/train/hooks.h"
#include "wmark/train/options.h"
#include "wmark/util/export.h"

namespace wmark {

/// What fit() returns.
struct TrainResult {
  std::vector<EpochStats> history;  ///< one entry per finished epoch
  /// Clean test accuracy after the last epoch (negative without a test split).
  double test_accuracy = -1;
  /// Wall time of the training steps (evaluation excluded).
  double train_seconds = 0;
  double samples_per_second = 0;  ///< training throughput over all epochs
};

/// Trains a Network on an in-memory Dataset: shuffled index batches gathered with
/// index_select, normalised per batch, optional batched augmentation, SGD or Adam,
/// LR schedule, hooks, per-epoch evaluation, logging and checkpoints.
class WMARK_API Trainer {
 public:
  /// `info` describes the model in checkpoints (architecture, spec, dataset). Requires a
  /// non-null model; any torch::nn::Module goes through as_network() (models/module_adapter.h).
  Trainer(NetworkPtr model, TrainerOptions options, CheckpointInfo info = {});

  /// Adds a hook; hooks run in the order added.
  Trainer& add_hook(std::shared_ptr<TrainerHook> hook);

  /// Trains on `train`; evaluates on `test` after each epoch when given. Throws
  /// wmark::Error for invalid options, or a model that does not map train's image shape
  /// to train.num_classes logits (checked before the first step).
  TrainResult fit(const Dataset& train, const Dataset* test = nullptr);

  /// The options this trainer was built with.
  const TrainerOptions& options() const { return options_; }
  /// The model being trained (trained in place).
  NetworkPtr model() const { return model_; }

 private:
  NetworkPtr model_;
  TrainerOptions options_;
  CheckpointInfo info_;
  std::vector<std::shared_ptr<TrainerHook>> hooks_;
};

}  // namespace wmark
