/// \file
/// Dummy neurons (Neural Structural Obfuscation, Yan et al., USENIX Security 2023): widen
/// a stolen model's hidden layers with units that change nothing. No data, no training,
/// the same function to the last rounding error; the layers no longer have the widths,
/// the unit counts or the weight averages a white-box watermark was embedded in.
#pragma once

#include <string>

#include <torch/arg.h>

#include "wmark/attack/attack.h"

namespace wmark {

/// Options of DummyNeuronsAttack.
struct DummyNeuronsOptions {
  /// Hidden-unit layers to widen, comma-separated (see hidden_unit_layers()); "" = all.
  TORCH_ARG(std::string, layers) = "";
  /// "zero" (random incoming weights, zero outgoing), "split" (a copy of a unit, scaled,
  /// sharing its outgoing weights), "clique" (units with one incoming direction whose
  /// outgoing weights cancel), or "mixed" (about a third of each).
  TORCH_ARG(std::string, variant) = "mixed";
  /// Units added per layer, as a fraction of its width (at least one).
  TORCH_ARG(double, fraction) = 0.25;
  /// Units per clique.
  TORCH_ARG(std::int64_t, clique_size) = 3;
};

/// Adds dummy units to each chosen layer, then shuffles its units (all from the context's
/// seed), so the dummies are not simply the last units.
class WMARK_API DummyNeuronsAttack : public Attack {
 public:
  /// Checks the options against their declaration.
  explicit DummyNeuronsAttack(DummyNeuronsOptions options = {});
  /// The declared options: names, defaults, ranges and help (JSON, flags, reports).
  static const OptionBinding<DummyNeuronsOptions>& declared_options();
  /// "dummy-neurons".
  std::string name() const override { return "dummy-neurons"; }
  /// The options as JSON.
  nlohmann::json options() const override;
  /// Details: "layers" (name, units before and after, zero, split, clique units added),
  /// "max_logit_difference" (victim vs attacked copy on up to 256 of the attacker's images).
  AttackResult run(Network& victim, const AttackContext& context) const override;

 private:
  DummyNeuronsOptions options_;
};

}  // namespace wmark
