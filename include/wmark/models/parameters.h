/// \file
/// Finding a model's layer weights by shape, for the schemes and attacks that work on
/// named layers (pruning, output-layer reset, weight watermarks).
#pragma once

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <vector>

#include "wmark/models/network.h"
#include "wmark/util/export.h"

namespace wmark {

/// Names of the parameters called "...weight" with one of `dims` dimensions (2: linear,
/// 4: convolution), in the model's order; biases and normalisation weights (1-D) never match.
WMARK_API std::vector<std::string> weight_names(Network& model, std::initializer_list<std::int64_t> dims);

/// How far `moved` is from `origin` in parameter space: the l2 norm of the difference of
/// all parameters, when both have the same parameter names and shapes; nullopt otherwise
/// (a student of another architecture).
WMARK_API std::optional<double> parameter_distance(Network& origin, Network& moved);

/// The l2 norm of all of `model`'s parameters together.
WMARK_API double parameter_norm(Network& model);

}  // namespace wmark
