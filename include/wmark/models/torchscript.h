/// \file
/// TorchScript export: a model as a file that Python's `torch.jit.load` (and LibTorch's
/// `torch::jit::load`, hence `wmark verify`) runs without wmark.
///
/// The model is traced in eval mode: the file computes the inference forward (batch
/// norm with its running statistics, no dropout) for any batch size, with the model's
/// parameters and buffers as attributes of submodules that mirror its module tree
/// (`conv1.weight`, `features.0.weight`). It is meant for deployment and verification,
/// not for further training.
#pragma once

#include <filesystem>

#include "wmark/data/dataset.h"
#include "wmark/models/network.h"
#include "wmark/util/export.h"

namespace torch::jit {
struct Module;
}

namespace wmark {

/// Traces `model` on zero images of shape `input` and writes the TorchScript module to
/// `path`. The model's training mode is restored. Refuses to replace a file unless
/// `force`; throws wmark::Error if the model cannot be traced or on a write error.
WMARK_API void save_torchscript(Network& model, const ImageShape& input, const std::filesystem::path& path,
                                bool force = false);

}  // namespace wmark
