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

namespace wmark {

/// What fit() returns.
struct TrainResult {
  std::vector<EpochStats> history;
  /// Clean test accuracy after the last epoch (negative without a test split).
  double test_accuracy = -1;
  /// Wall time of the training steps (evaluation excluded).
  double train_seconds = 0;
  double samples_per_second = 0;
};

/// Trains a Network on an in-memory Dataset: shuffled index batches gathered with
/// index_select, normalised per batch, optional batched augmentation, SGD or Adam,
/// LR schedule, hooks, per-epoch evaluation, logging and checkpoints.
class Trainer {
 public:
  /// `info` describes the model in checkpoints (architecture, spec, dataset).
  Trainer(NetworkPtr model, TrainerOptions options, CheckpointInfo info = {});

  /// Adds a hook; hooks run in the order added.
  Trainer& add_hook(std::shared_ptr<TrainerHook> hook);

  /// Trains on `train`; evaluates on `test` after each epoch when given.
  TrainResult fit(const Dataset& train, const Dataset* test = nullptr);

  const TrainerOptions& options() const { return options_; }
  NetworkPtr model() const { return model_; }

 private:
  NetworkPtr model_;
  TrainerOptions options_;
  CheckpointInfo info_;
  std::vector<std::shared_ptr<TrainerHook>> hooks_;
};

}  // namespace wmark
