/// \file
/// Batched data augmentation on whole uint8 batch tensors.
#pragma once

#include <cstdint>

#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>

namespace wmark {

/// Random crop after zero padding by `padding` pixels, and a random horizontal flip
/// with probability 1/2 (if `flip`), each drawn per sample; [N,C,H,W] in and out.
at::Tensor random_crop_flip(const at::Tensor& batch, std::int64_t padding, bool flip,
                            at::Generator& generator);

}  // namespace wmark
