/// \file
/// Model checkpoints: weights, buffers, metadata (architecture, shapes, dataset,
/// normalisation) and optionally the optimizer state, in one LibTorch archive.
#pragma once

#include <filesystem>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "wmark/models/network.h"
#include "wmark/models/registry.h"

namespace torch::optim {
class Optimizer;
}

namespace wmark {

/// What a checkpoint records besides the tensors.
struct CheckpointInfo {
  std::string arch;
  ModelSpec spec;
  std::string dataset;
  Normalization normalization;
  /// Epochs completed (for --resume).
  std::int64_t epoch = 0;
  /// Free-form training configuration and results.
  nlohmann::json extra = nlohmann::json::object();
};

/// Saves `model` (and `optimizer` if given) atomically; refuses to replace an existing
/// file unless `force`.
void save_checkpoint(const std::filesystem::path& path, torch::nn::Module& model,
                     const CheckpointInfo& info, torch::optim::Optimizer* optimizer = nullptr,
                     bool force = false);

/// Reads only the metadata of a checkpoint.
CheckpointInfo read_checkpoint_info(const std::filesystem::path& path);

/// Copies the checkpoint's tensors into `model`, checking that every parameter and
/// buffer exists with the same shape; names the first mismatch otherwise.
void load_weights(const std::filesystem::path& path, torch::nn::Module& model);

/// Restores the optimizer state saved with the checkpoint; throws if it has none.
void load_optimizer_state(const std::filesystem::path& path, torch::optim::Optimizer& optimizer);

/// A network rebuilt from a checkpoint.
struct LoadedModel {
  NetworkPtr model;
  CheckpointInfo info;
};

/// Builds the checkpoint's architecture from `registry` and loads its weights.
/// With `expected_arch`, refuses a checkpoint of another architecture.
LoadedModel load_checkpoint(const std::filesystem::path& path,
                            const std::optional<std::string>& expected_arch = std::nullopt,
                            const ModelRegistry& registry = model_registry());

}  // namespace wmark
