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
#include "wmark/util/export.h"

namespace torch::optim {
class Optimizer;
}

namespace wmark {

/// What a checkpoint records besides the tensors.
struct CheckpointInfo {
  /// Architecture name in the model registry, e.g. "mnist_cnn".
  std::string arch;
  /// Input shape and class count the model was built for.
  ModelSpec spec;
  /// Name of the dataset the model was trained on.
  std::string dataset;
  /// The input normalisation the model expects.
  Normalization normalization;
  /// Epochs completed (for `--resume`).
  std::int64_t epoch = 0;
  /// Free-form training configuration and results.
  nlohmann::json extra = nlohmann::json::object();
};

/// Saves `model` (and `optimizer` if given) atomically; refuses to replace an existing
/// file unless `force`. Throws wmark::Error if the file cannot be written.
WMARK_API void save_checkpoint(const std::filesystem::path& path, torch::nn::Module& model,
                               const CheckpointInfo& info,
                               torch::optim::Optimizer* optimizer = nullptr, bool force = false);

/// Reads only the metadata of a checkpoint. Throws wmark::Error if the file is missing,
/// not a wmark checkpoint or its metadata is damaged.
WMARK_API CheckpointInfo read_checkpoint_info(const std::filesystem::path& path);

/// Copies the checkpoint's tensors into `model`, checking that every parameter and
/// buffer exists with the same shape; throws wmark::Error naming the first mismatch
/// otherwise.
WMARK_API void load_weights(const std::filesystem::path& path, torch::nn::Module& model);

/// Restores the optimizer state saved with the checkpoint; throws wmark::Error if it has
/// none or it does not fit `optimizer`.
WMARK_API void load_optimizer_state(const std::filesystem::path& path,
                                    torch::optim::Optimizer& optimizer);

/// A network rebuilt from a checkpoint.
struct LoadedModel {
  NetworkPtr model;     ///< the network with the checkpoint's weights, in eval mode
  CheckpointInfo info;  ///< the checkpoint's metadata
};

/// Builds the checkpoint's architecture from `registry` and loads its weights; the model
/// is returned in eval mode. With `expected_arch`, refuses a checkpoint of another
/// architecture. Throws wmark::Error for that, an unknown architecture or a mismatch.
WMARK_API LoadedModel load_checkpoint(const std::filesystem::path& path,
                                      const std::optional<std::string>& expected_arch = std::nullopt,
                                      const ModelRegistry& registry = model_registry());

}  // namespace wmark
