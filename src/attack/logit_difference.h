// Internal: how far an attack that claims to keep the function moved the logits.
#pragma once

#include "wmark/data/dataset.h"
#include "wmark/models/network.h"

namespace wmark {

// The largest absolute logit difference between `a` and `b` on the first (at most) 256
// images of `data`; both are put in eval mode.
double max_logit_difference(Network& a, Network& b, const Dataset& data);

}  // namespace wmark
