/// \file
/// Weight quantization (the Watermark-Robustness-Toolbox's `weight_quantization`): round
/// every parameter tensor to 2^bits evenly spaced levels between its minimum and maximum,
/// then optionally fine-tune (at full precision) on the attacker's data. A thief shrinking
/// a stolen model for deployment does the first half anyway.
#pragma once

#include <string>

#include <torch/arg.h>

#include "wmark/attack/attack.h"

namespace wmark {

/// Options of WeightQuantizationAttack.
struct WeightQuantizationOptions {
  /// Levels per tensor: 2^bits, in [1, 16].
  TORCH_ARG(std::int64_t, bits) = 5;
  /// "all" parameters (the toolbox's choice) or only convolution and linear "weights".
  TORCH_ARG(std::string, scope) = "all";
  /// Fine-tuning epochs after quantizing (full precision; 0 = the quantized model itself).
  TORCH_ARG(std::int64_t, epochs) = 1;
  /// Optimiser of the fine-tuning: "sgd" (momentum 0.9) or "adam".
  TORCH_ARG(std::string, optimizer) = "sgd";
  /// Learning rate of the fine-tuning.
  TORCH_ARG(double, lr) = 0.01;
};

/// Rounds each of `model`'s chosen parameter tensors ("all" or "weights") to the
/// midpoints of 2^bits equal bins spanning its [min, max]; returns how many tensors.
WMARK_API std::int64_t quantize_parameters(Network& model, std::int64_t bits, const std::string& scope);

/// Quantizes a copy of the victim, then fine-tunes it for `epochs`.
class WMARK_API WeightQuantizationAttack : public Attack {
 public:
  /// Checks the options against their declaration.
  explicit WeightQuantizationAttack(WeightQuantizationOptions options = {});
  /// The declared options: names, defaults, ranges and help (JSON, flags, reports).
  static const OptionBinding<WeightQuantizationOptions>& declared_options();
  /// "weight-quantization".
  std::string name() const override { return "weight-quantization"; }
  /// The options as JSON.
  nlohmann::json options() const override;
  /// Details: "tensors" quantized, "levels" per tensor, "epochs" of fine-tuning.
  AttackResult run(Network& victim, const AttackContext& context) const override;

 private:
  WeightQuantizationOptions options_;
};

}  // namespace wmark
