/// \file
/// Extension points of the training loop. Watermark embedders plug in here.
///
/// Contract: the Trainer calls, for each epoch, on_epoch_begin, then per step
/// extend_batch (after augmentation of the clean samples, before normalisation) and
/// extra_loss (after the forward pass) and on_step_end (after the optimiser step),
/// then on_epoch_end after evaluation. A hook
/// must not keep references to the batch tensors past the call, must draw randomness
/// only from its own seeded generators (runs stay repeatable), and may set
/// EpochStats::stop to end training early.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include <ATen/core/Tensor.h>

#include "wmark/util/export.h"

namespace wmark {

class Network;

/// One training batch. `images` are uint8 [B,C,H,W], `labels` int64 [B].
struct Batch {
  at::Tensor images;  ///< uint8 [B,C,H,W] in the Trainer; a hand-written loop may pass normalised floats
  at::Tensor labels;  ///< int64 [B]
  /// How many leading samples are clean training data (the rest were added by hooks).
  std::int64_t clean_size = 0;
};

/// Where the loop is.
struct StepContext {
  std::int64_t epoch = 0;            ///< 1-based
  std::int64_t step = 0;             ///< 0-based within the epoch
  std::int64_t steps_per_epoch = 0;  ///< optimiser steps in one epoch
  int rank = 0;                      ///< data-parallel training: this process's rank
  int world_size = 1;                ///< data-parallel training: number of processes
};

/// Figures of one finished epoch.
struct EpochStats {
  std::int64_t epoch = 0;     ///< 1-based
  double train_loss = 0;      ///< mean loss over the epoch's clean and added samples
  double train_accuracy = 0;  ///< accuracy on the clean samples of the training batches
  /// Clean test accuracy; negative when no test split was given.
  double test_accuracy = -1;
  double seconds = 0;             ///< wall time of the training steps
  double samples_per_second = 0;  ///< samples (clean and added) trained per second
  double lr = 0;                  ///< learning rate used in this epoch
  /// Hook-provided figures, e.g. "trigger_accuracy".
  std::map<std::string, double> metrics;
  /// Set by a hook to end training after this epoch.
  bool stop = false;
};

/// A plug-in of the training loop; every method has a do-nothing default.
class WMARK_API TrainerHook {
 public:
  virtual ~TrainerHook() = default;
  /// Called before the first step of each epoch.
  virtual void on_epoch_begin(const StepContext& /*context*/) {}
  /// May append samples to the batch (images and labels alike).
  virtual void extend_batch(Batch& /*batch*/, const StepContext& /*context*/) {}
  /// A term added to the loss, or an undefined tensor for none.
  virtual at::Tensor extra_loss(const Batch& /*batch*/, const at::Tensor& /*logits*/,
                                Network& /*model*/, const StepContext& /*context*/) {
    return {};
  }
  /// Called after each optimiser step, e.g. to re-apply a pruning mask.
  virtual void on_step_end(Network& /*model*/, const StepContext& /*context*/) {}
  /// May add metrics (model is in eval mode here) and request a stop.
  virtual void on_epoch_end(EpochStats& /*stats*/, Network& /*model*/) {}
};

}  // namespace wmark
