/// \file
/// The soft nearest neighbour loss (Frosst, Papernot and Hinton, ICML 2019): how
/// entangled groups of points are in a representation. Low when every point's near
/// neighbours are of its own group, higher the more the groups mix
/// completely. Entangled Watermarks maximise it between triggers and the target class.
#pragma once

#include <ATen/core/Tensor.h>

#include "wmark/util/export.h"

namespace wmark {

/// The loss of `features` [N, ...] (flattened and rectified, as the EWE reference does)
/// in `groups` (int64 [N]), with cosine distance d and kernel exp(-d / temperature):
/// -mean_i log(1e-5 + sum_{j != i, same group} e_ij / (1e-5 + sum_{k != i} e_ik)).
/// `temperature` is a positive scalar tensor, so the loss's gradient with respect to it
/// is available. Differentiable in `features`. Throws wmark::Error for fewer than two
/// points, mismatched groups or a non-scalar temperature.
WMARK_API at::Tensor soft_nearest_neighbour_loss(const at::Tensor& features, const at::Tensor& groups,
                                                 const at::Tensor& temperature);

}  // namespace wmark
