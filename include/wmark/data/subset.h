/// \file
/// Deterministic, class-balanced subsets for fast runs.
#pragma once

#include <cstdint>

#include "wmark/data/dataset.h"

namespace wmark {

/// `count` samples drawn without replacement with `seed`, as evenly spread over the
/// classes as the data allows; samples keep the dataset's original order.
/// A count of 0 or at least the dataset size returns the whole dataset.
Dataset balanced_subset(const Dataset& dataset, std::int64_t count, std::uint64_t seed);

/// Splits off the last `count` samples of a seeded permutation (e.g. attacker data);
/// returns {rest, held_out}.
std::pair<Dataset, Dataset> split_holdout(const Dataset& dataset, std::int64_t count,
                                          std::uint64_t seed);

}  // namespace wmark
