/// \file
/// Options of the training loop, as chained setters: TrainerOptions().epochs(5).lr(0.05).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include <c10/core/Device.h>
#include <torch/arg.h>

namespace wmark {

class ProcessGroup;

/// Progress within an epoch, for live progress displays.
struct Progress {
  std::int64_t epoch = 0;         ///< current epoch, 1-based
  std::int64_t epochs = 0;        ///< epochs of the run
  std::int64_t step = 0;          ///< steps done in this epoch
  std::int64_t steps = 0;         ///< steps per epoch
  double loss = 0;                ///< mean loss over this epoch's clean samples so far
  double samples_per_second = 0;  ///< throughput, hook-added samples included
  double eta_seconds = 0;         ///< estimated time to the end of the epoch
};

/// How a Trainer trains. Each field is a TORCH_ARG: read it with `options.lr()`, set it
/// with the chained setter `options.lr(0.01)`. Trainer::fit() checks the values and
/// throws wmark::Error for invalid ones (e.g. epochs < 1, batch_size < 2, lr <= 0).
struct TrainerOptions {
  /// Number of epochs (at least 1).
  TORCH_ARG(std::int64_t, epochs) = 1;
  /// Clean samples per batch (at least 2); hooks may add more.
  TORCH_ARG(std::int64_t, batch_size) = 64;
  /// "sgd" (with momentum, Nesterov off) or "adam".
  TORCH_ARG(std::string, optimizer) = "sgd";
  /// Base learning rate (positive).
  TORCH_ARG(double, lr) = 0.05;
  /// SGD momentum (unused by Adam).
  TORCH_ARG(double, momentum) = 0.9;
  /// L2 weight decay of the optimizer.
  TORCH_ARG(double, weight_decay) = 0.0;
  /// "none", "step" (times `lr_gamma` every `lr_step` epochs) or "cosine" (to 0 over the run).
  TORCH_ARG(std::string, schedule) = "none";
  /// Epochs between decays of the "step" schedule (at least 1).
  TORCH_ARG(std::int64_t, lr_step) = 10;
  /// Decay factor of the "step" schedule.
  TORCH_ARG(double, lr_gamma) = 0.1;
  /// Random crop (after `crop_padding` zero padding) and horizontal flip of clean samples.
  TORCH_ARG(bool, augment) = false;
  /// Zero padding, in pixels, before the random crop.
  TORCH_ARG(std::int64_t, crop_padding) = 4;
  /// Seeds the shuffling (per epoch, so a resumed run sees the same order).
  TORCH_ARG(std::uint64_t, seed) = 1;
  /// Device the model is trained on.
  TORCH_ARG(c10::Device, device) = c10::Device(c10::kCPU);
  /// Train in channels-last (NHWC) layout: the model's 4-D weights and each batch.
  TORCH_ARG(bool, channels_last) = true;
  /// Batch size of the per-epoch evaluation on the test split.
  TORCH_ARG(std::int64_t, eval_batch_size) = 1000;
  /// If set, a checkpoint (model + optimizer + epoch) is written here after each epoch.
  TORCH_ARG(std::string, checkpoint_path) = "";
  /// Replace an existing checkpoint file at the start.
  TORCH_ARG(bool, force) = false;
  /// If set, training resumes from this checkpoint's weights, optimizer state and epoch.
  TORCH_ARG(std::string, resume_from) = "";
  /// Called every few steps with the progress of the current epoch.
  TORCH_ARG(std::function<void(const Progress&)>, on_progress);
  /// Data-parallel training (dist/process_group.h): every process of the group runs
  /// fit() with the same options and data; each trains on its shard of every global
  /// batch of `batch_size`, gradients are averaged, and only rank 0 logs and writes
  /// checkpoints. Null (the default) trains in this process alone.
  TORCH_ARG(std::shared_ptr<ProcessGroup>, process_group) = nullptr;
  /// Data-parallel training: gradients are averaged in flat buckets of about this size.
  TORCH_ARG(std::int64_t, bucket_bytes) = 25ll << 20;
};

}  // namespace wmark
