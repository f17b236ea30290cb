/// \file
/// One way to open a model file for every command and the evaluation: a wmark
/// checkpoint (architecture and shapes in its metadata) or a TorchScript file (which
/// records no shapes, so the dataset it was trained on gives them).
#pragma once

#include <filesystem>
#include <optional>
#include <string>

#include <c10/core/Device.h>

#include "wmark/data/catalog.h"
#include "wmark/models/checkpoint.h"
#include "wmark/models/network.h"
#include "wmark/util/export.h"

namespace wmark {

/// A model opened by load_network().
struct LoadedNetwork {
  NetworkPtr model;                          ///< in eval mode, on the requested device
  std::string arch;                          ///< the checkpoint's architecture, or "torchscript"
  ModelSpec spec;                            ///< input shape and class count
  Normalization normalization;               ///< the input normalisation it expects
  std::optional<CheckpointInfo> checkpoint;  ///< a wmark checkpoint's metadata; empty for TorchScript
  std::string description;                   ///< for reports: "checkpoint m.pt (mnist_cnn)"
};

/// True if `path` is a wmark checkpoint, decided from its bytes without running anything
/// in it (LibTorch's loader compiles and runs an archive's TorchScript, so every
/// checkpoint reader screens the file first: code records may only declare attributes,
/// pickles nest at most 64 levels, entries inflate to at most 4 GiB). False for anything
/// else, a TorchScript model included.
WMARK_API bool is_checkpoint_file(const std::filesystem::path& path);

/// Opens `path`: a wmark checkpoint, rebuilt from the model registry (refused when `arch`
/// is given and differs), or, when it is not one and `arch` is empty, a TorchScript file,
/// whose shapes and normalisation come from `traits` (required then). With `traits`, a
/// checkpoint built for other inputs or another class count is refused. Errors name the
/// file. Without `traits` (or with `arch`) the file is read once; with both unknown it is
/// read twice (once to tell a checkpoint from TorchScript). Loading TorchScript runs the
/// file's code in this process: open files of unknown origin in the sandbox
/// (verify/sandboxed_classifier.h) instead.
WMARK_API LoadedNetwork load_network(const std::filesystem::path& path, const std::string& arch = "",
                                     const std::optional<DatasetTraits>& traits = std::nullopt,
                                     c10::Device device = c10::kCPU);

}  // namespace wmark
