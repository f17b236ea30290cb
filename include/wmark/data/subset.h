/// \file
/// Deterministic, class-balanced subsets for fast runs.
#pragma once

#include <cstdint>
#include <utility>

#include "wmark/data/dataset.h"
#include "wmark/util/export.h"

namespace wmark {

/// `count` samples drawn without replacement with `seed`, as evenly spread over the
/// classes as the data allows; samples keep the dataset's original order.
/// A count of 0 or at least the dataset size returns the whole dataset; a negative
/// count throws wmark::Error.
WMARK_API Dataset balanced_subset(const Dataset& dataset, std::int64_t count, std::uint64_t seed);

/// Splits off `count` samples chosen by a seeded permutation, such as an attacker's
/// data; returns {rest, held_out}, each in the dataset's original order. Requires
/// 0 <= count <= size; throws wmark::Error otherwise.
WMARK_API std::pair<Dataset, Dataset> split_holdout(const Dataset& dataset, std::int64_t count,
                                                    std::uint64_t seed);

/// The samples of `dataset` whose image is none of `images` (uint8 [K,C,H,W] in the
/// dataset's shape), in the original order: what a scheme that marks training images
/// with other labels trains on, so that no image is taught two labels. Throws
/// wmark::Error for images of another shape.
WMARK_API Dataset without_images(const Dataset& dataset, const at::Tensor& images);

}  // namespace wmark
