/// \file
/// Batched, no-grad inference over uint8 images.
#pragma once

#include <cstdint>

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include "wmark/data/dataset.h"
#include "wmark/util/export.h"

namespace wmark {

class Network;

/// Predicted labels (int64 [N], on the CPU) of uint8 images [N,C,H,W], normalised with
/// `normalization`, in batches of `batch_size`. Puts the model in eval mode.
WMARK_API at::Tensor predict_labels(Network& model, const at::Tensor& images,
                          const Normalization& normalization, c10::Device device,
                          std::int64_t batch_size = 1000);

/// Logits (float [N, classes], on the CPU) of uint8 images [N,C,H,W], as
/// predict_labels() computes them.
WMARK_API at::Tensor predict_logits(Network& model, const at::Tensor& images, const Normalization& normalization,
                                    c10::Device device, std::int64_t batch_size = 1000);

/// Class probabilities (softmax of the logits, float [N, classes], on the CPU) of uint8
/// images [N,C,H,W], as predict_labels() computes them.
WMARK_API at::Tensor predict_probabilities(Network& model, const at::Tensor& images,
                                           const Normalization& normalization, c10::Device device,
                                           std::int64_t batch_size = 1000);

/// Fraction of `labels` predicted correctly.
WMARK_API double accuracy(Network& model, const at::Tensor& images, const at::Tensor& labels,
                const Normalization& normalization, c10::Device device,
                std::int64_t batch_size = 1000);

/// Test accuracy of `model` on a whole split.
WMARK_API double accuracy(Network& model, const Dataset& dataset, c10::Device device,
                std::int64_t batch_size = 1000);

}  // namespace wmark
