/// \file
/// Python state dicts: a model's weights as PyTorch's `torch.save(model.state_dict())`
/// writes them and `model.load_state_dict(torch.load(path))` reads them, so a wmark
/// model moves to and from the same architecture written in Python.
///
/// Names are the module paths of parameters and buffers ("conv1.weight",
/// "features.1.running_mean"); the built-in architectures use PyTorch's names and
/// layouts (tests/python/architectures.py defines their Python twins).
#pragma once

#include <filesystem>
#include <map>
#include <string>

#include <torch/nn/module.h>

#include "wmark/util/export.h"

namespace wmark {

/// Writes every parameter and buffer of `model` (contiguous CPU copies) as a dict of
/// tensors in PyTorch's zip format. Refuses to replace a file unless `force`; throws
/// wmark::Error naming the file on a write error.
WMARK_API void save_state_dict(torch::nn::Module& model, const std::filesystem::path& path, bool force = false);

/// The tensors of a file written by `torch.save(model.state_dict(), path)` (or
/// save_state_dict()) by name, as load_state_dict() reads them. Tensors that share a
/// storage in the file share it here, as in PyTorch; each storage is read once. The file
/// is treated as hostile: its zip entries' declared sizes (at most 2 GiB in all),
/// container nesting (100 levels) and object count (a million) are limited, and any
/// damage is a wmark::Error naming the file and the problem or limit.
WMARK_API std::map<std::string, torch::Tensor> read_state_dict(const std::filesystem::path& path);

/// Reads a state dict saved with Python's `torch.save(model.state_dict(), path)` (or
/// save_state_dict()) into `model`: every parameter and buffer must be present with
/// the same shape, and nothing else. Throws wmark::Error naming the file and the
/// missing, unexpected or mis-shaped entries (the model is left unchanged then), or
/// what is wrong with a file that is not such a dict (truncated, not torch.save's zip
/// format, objects other than tensors).
WMARK_API void load_state_dict(torch::nn::Module& model, const std::filesystem::path& path);

}  // namespace wmark
