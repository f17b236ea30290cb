/// \file
/// Removing hidden units that add nothing to a network's function: what a thief's dummy
/// neurons (Neural Structural Obfuscation, Yan et al., USENIX Security 2023) leave, undone
/// before a white-box watermark is read.
///
/// Between a hidden-unit layer's producer and its consumer sit only ReLU, max-pooling and
/// dropout, which commute with multiplying a unit by c > 0. So two units whose effective
/// incoming weights (batch norm folded in, bias included) are positive multiples of each
/// other, e_j = s e_r, compute h_j = s h_r, and unit j can be folded into unit r by adding
/// s times its consumer columns to r's: a split unit becomes one again, and a clique of
/// units whose outgoing weights cancel becomes one unit read by nobody. Units read by
/// nobody (consumer columns zero) or computing nothing (effective weights zero) are then
/// dropped. The function is unchanged up to rounding.
///
/// Exact dummies only: units the thief perturbs off proportionality (at some cost in
/// fidelity) or makes dead only on real data are not found (docs/robustness.md).
#pragma once

#include <cstdint>
#include <vector>

#include "wmark/models/hidden_units.h"
#include "wmark/util/export.h"

namespace wmark {

/// What remove_redundant_units() did to one layer.
struct RedundantUnits {
  std::int64_t folded = 0;   ///< units folded into a proportional one
  std::int64_t dropped = 0;  ///< units removed as read by nobody or computing nothing
};

/// Folds and drops `layer`'s redundant units in place (see above): units are proportional
/// when the cosine of their effective incoming weights exceeds 1 - `tolerance`, read by
/// nobody when their consumer columns' norm is below `tolerance` times the median unit's.
/// Keeps at least one unit. Call hidden_unit_layers() again afterwards.
WMARK_API RedundantUnits remove_redundant_units(Network& model, const HiddenUnitLayer& layer,
                                                double tolerance = 1e-5);

/// remove_redundant_units() on every hidden-unit layer of `model`, last to first, repeated
/// until nothing changes: a dummy unit may be read only by the next layer's dummies, and
/// is silent once they are gone. Returns per layer (in hidden_unit_layers() order) what
/// was removed; nothing for a model whose structure wmark does not know.
WMARK_API std::vector<RedundantUnits> remove_redundant_units(Network& model, double tolerance = 1e-5);

}  // namespace wmark
