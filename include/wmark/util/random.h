/// \file
/// Seeded randomness: independent, reproducible streams derived from one seed.
#pragma once

#include <cstdint>
#include <vector>
#include <string_view>

#include <ATen/core/Generator.h>

#include "wmark/util/export.h"

namespace wmark {

/// A seed for one purpose ("target-label", "noise", ...) derived from a master seed,
/// so that the streams of different purposes are independent of each other.
WMARK_API std::uint64_t derive_seed(std::uint64_t seed, std::string_view purpose);

/// A CPU generator seeded with `seed`, for torch::randperm / torch::randn and friends.
WMARK_API at::Generator make_generator(std::uint64_t seed);

/// `count` distinct indexes of [0, total), uniformly at random from the OS CSPRNG
/// (libsodium; not seeded, not reproducible: for choices an adversary must not
/// predict, such as which triggers a verification queries), in increasing order.
/// Requires 0 <= count <= total < 2^32; throws wmark::Error otherwise.
WMARK_API std::vector<std::int64_t> secure_random_subset(std::int64_t total, std::int64_t count);

/// [0, n) in a uniformly random order from the OS CSPRNG (as secure_random_subset): how
/// a verification mixes triggers and control images so that a suspect cannot tell
/// them apart by position. Requires 0 <= n < 2^32; throws wmark::Error otherwise.
WMARK_API std::vector<std::int64_t> secure_random_permutation(std::int64_t n);

}  // namespace wmark
