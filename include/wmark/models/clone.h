/// \file
/// Independent copies of a model's weights: attacks work on copies and never modify
/// the model they are given.
#pragma once

#include <functional>

#include "wmark/models/network.h"
#include "wmark/util/export.h"

namespace wmark {

/// Builds a fresh, untrained model of one architecture (same parameter names and shapes).
using NetworkFactory = std::function<NetworkPtr()>;

/// Copies every parameter and buffer of `from` into `to`. Requires the same names and
/// shapes, except that `to`'s hidden-unit layers first take `from`'s widths (a model
/// widened by dummy neurons; models/hidden_units.h); throws wmark::Error naming the first
/// mismatch otherwise.
WMARK_API void copy_weights(Network& from, Network& to);

/// A deep copy of `source`: make() then copy_weights(), on the source's device, in the
/// source's training mode. Throws wmark::Error if make() returns null or another
/// architecture.
WMARK_API NetworkPtr clone_network(Network& source, const NetworkFactory& make);

}  // namespace wmark
