/// \file
/// Seeded randomness: independent, reproducible streams derived from one seed.
#pragma once

#include <cstdint>
#include <string_view>

#include <ATen/core/Generator.h>

#include "wmark/util/export.h"

namespace wmark {

/// A seed for one purpose ("target-label", "noise", ...) derived from a master seed,
/// so that the streams of different purposes are independent of each other.
WMARK_API std::uint64_t derive_seed(std::uint64_t seed, std::string_view purpose);

/// A CPU generator seeded with `seed`, for torch::randperm / torch::randn and friends.
WMARK_API at::Generator make_generator(std::uint64_t seed);

}  // namespace wmark
