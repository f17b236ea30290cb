/// \file
/// Neuron permutation: reorder a stolen model's hidden units (and the next layer's inputs
/// with them). No data, no training, the same function to the last rounding error; the
/// order of the units, which weight watermarks (Uchida) and activation watermarks
/// (DeepSigns) read their bits in, is gone.
#pragma once

#include <string>

#include <torch/arg.h>

#include "wmark/attack/attack.h"

namespace wmark {

/// Options of NeuronPermutationAttack.
struct NeuronPermutationOptions {
  /// Hidden-unit layers to reorder, comma-separated (see hidden_unit_layers()); "" = all.
  TORCH_ARG(std::string, layers) = "";
  /// With every layer chosen: also reorder the channels of each residual stream of a
  /// resnet18 (residual_streams(): all writers and readers at once).
  TORCH_ARG(bool, residual) = true;
};

/// Applies a random permutation (from the context's seed) to each chosen hidden-unit
/// layer, then to each residual stream.
class WMARK_API NeuronPermutationAttack : public Attack {
 public:
  /// Checks the options against their declaration.
  explicit NeuronPermutationAttack(NeuronPermutationOptions options = {});
  /// The declared options: names, defaults and help (JSON, flags, reports).
  static const OptionBinding<NeuronPermutationOptions>& declared_options();
  /// "neuron-permutation".
  std::string name() const override { return "neuron-permutation"; }
  /// The options as JSON.
  nlohmann::json options() const override;
  /// Details: "layers" and "streams" (name, units, units moved), "max_logit_difference" (victim vs
  /// attacked copy on up to 256 of the attacker's images: the function is unchanged).
  AttackResult run(Network& victim, const AttackContext& context) const override;

 private:
  NeuronPermutationOptions options_;
};

}  // namespace wmark
