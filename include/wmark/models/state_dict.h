/// \file
/// Python state dicts: a model's weights in the file format of PyTorch's `torch.save`,
/// as `model.load_state_dict(torch.load(path))` reads them, so a wmark model moves to
/// the same architecture written in Python.
///
/// Names are the module paths of parameters and buffers ("conv1.weight",
/// "features.1.running_mean"); the built-in architectures use PyTorch's names and
/// layouts (tests/python/architectures.py defines their Python twins).
#pragma once

#include <filesystem>

#include <torch/nn/module.h>

#include "wmark/util/export.h"

namespace wmark {

/// Writes every parameter and buffer of `model` (contiguous CPU copies) as a dict of
/// tensors in PyTorch's zip format. Refuses to replace a file unless `force`; throws
/// wmark::Error naming the file on a write error.
WMARK_API void save_state_dict(torch::nn::Module& model, const std::filesystem::path& path, bool force = false);

}  // namespace wmark
