/// \file
/// Converting images between shapes, so that a thief can query a victim with images
/// of another dataset (Knockoff Nets: Fashion-MNIST or CIFAR-10 images for an MNIST
/// victim, and the other way round).
#pragma once

#include <ATen/core/Tensor.h>

#include "wmark/data/dataset.h"
#include "wmark/util/export.h"

namespace wmark {

/// uint8 images [N,C,H,W] as uint8 [N, shape.channels, shape.height, shape.width]:
/// channels 3 -> 1 by ITU-R BT.601 luma, 1 -> 3 by repetition; height and width by
/// bilinear resampling (area averaging when shrinking). Images already of `shape` come
/// back unchanged. Throws wmark::Error for other channel counts or a non-uint8 batch.
WMARK_API at::Tensor convert_images(const at::Tensor& images, const ImageShape& shape);

}  // namespace wmark
