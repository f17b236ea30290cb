/// \file
/// Batched data augmentation on whole uint8 batch tensors.
#pragma once

#include <cstdint>

#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>

#include "wmark/util/export.h"

namespace wmark {

/// Random crop after zero padding by `padding` pixels, and a random horizontal flip
/// with probability 1/2 (if `flip`), each drawn per sample from `generator`; returns a
/// contiguous batch of the same shape and type. Requires a 4-D batch [N,C,H,W] and
/// `padding` >= 0; throws wmark::Error otherwise.
WMARK_API at::Tensor random_crop_flip(const at::Tensor& batch, std::int64_t padding, bool flip,
                                      at::Generator& generator);

}  // namespace wmark
