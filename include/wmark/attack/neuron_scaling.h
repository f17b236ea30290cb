/// \file
/// Neuron scaling: multiply each hidden unit's output by a positive factor and divide the
/// next layer's inputs by it. ReLU and max-pooling commute with positive factors, so the
/// function is unchanged while every weight of the chosen layers moves; weight and
/// activation watermarks that read raw magnitudes see other numbers. Under a batch norm a
/// unit's producer row may also change sign (flip_unit_signs()): a weight mark read from
/// the signs of projections of that layer's kernel (Uchida, DeepMarks) is inverted or
/// scrambled at no cost in accuracy.
#pragma once

#include <string>

#include <torch/arg.h>

#include "wmark/attack/attack.h"

namespace wmark {

/// Options of NeuronScalingAttack.
struct NeuronScalingOptions {
  /// Hidden-unit layers to rescale, comma-separated (see hidden_unit_layers()); "" = all.
  TORCH_ARG(std::string, layers) = "";
  /// Each unit's factor is drawn log-uniformly from [1/max_scale, max_scale].
  TORCH_ARG(double, max_scale) = 4.0;
  /// Share of the units under a batch norm whose sign is flipped as well (each drawn
  /// independently); units without a batch norm are never flipped.
  TORCH_ARG(double, flip_rate) = 0.5;
  /// With every layer chosen: also rescale the channels of each residual stream of a
  /// resnet18 (residual_streams(): all writers and readers at once).
  TORCH_ARG(bool, residual) = true;
};

/// Rescales each unit of each chosen layer by a random factor (from the context's seed).
class WMARK_API NeuronScalingAttack : public Attack {
 public:
  /// Checks the options; throws wmark::Error for max_scale outside [1, 1000] or
  /// flip_rate outside [0, 1].
  explicit NeuronScalingAttack(NeuronScalingOptions options = {});
  /// The declared options: names, defaults, ranges and help (JSON, flags, reports).
  static const OptionBinding<NeuronScalingOptions>& declared_options();
  /// "neuron-scaling".
  std::string name() const override { return "neuron-scaling"; }
  /// The options as JSON.
  nlohmann::json options() const override;
  /// Details: "layers" (name, units, smallest and largest factor, units flipped), "streams"
  /// (name, units, smallest and largest factor), "max_logit_difference"
  /// (victim vs attacked copy on up to 256 of the attacker's images).
  AttackResult run(Network& victim, const AttackContext& context) const override;

 private:
  NeuronScalingOptions options_;
};

}  // namespace wmark
