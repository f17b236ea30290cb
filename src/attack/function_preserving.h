// Internal: the result of an attack that claims to keep the function (neuron permutation,
// scaling), with the measurement of that claim.
#pragma once

#include <nlohmann/json.hpp>

#include "wmark/attack/attack.h"

namespace wmark {

// The largest absolute logit difference between `a` and `b` on the first (at most) 256
// images of `data`; both are put in eval mode.
double max_logit_difference(Network& a, Network& b, const Dataset& data);

// `model` as the attack's result, its details the per-layer `layers` and the measured
// max_logit_difference against `victim` on the attacker's images.
AttackResult function_preserving_result(Network& victim, NetworkPtr model, const AttackContext& context,
                                        nlohmann::json layers);

}  // namespace wmark
