/// \file
/// Weight shifting (the Watermark-Robustness-Toolbox's `weight_shifting`): every
/// convolution's filters are shifted by `shift` times their mean filter and perturbed by
/// Gaussian noise of `noise` times the layer's weight spread, which wrecks the model,
/// then the thief fine-tunes on its data to win the accuracy back, hoping the
/// watermark does not come back with it.
#pragma once

#include <string>

#include <torch/arg.h>

#include "wmark/attack/attack.h"

namespace wmark {

/// Options of WeightShiftingAttack (defaults: the toolbox's CIFAR-10 config).
struct WeightShiftingOptions {
  /// Each filter loses `shift` times the layer's mean filter (the toolbox's lambda).
  TORCH_ARG(double, shift) = 1.5;
  /// Standard deviation of the added noise, in units of the layer's weight standard
  /// deviation (the toolbox's lambda2).
  TORCH_ARG(double, noise) = 1.0;
  /// Fine-tuning epochs after shifting.
  TORCH_ARG(std::int64_t, epochs) = 10;
  /// "sgd" (momentum 0.9) or "adam".
  TORCH_ARG(std::string, optimizer) = "sgd";
  /// Learning rate (constant).
  TORCH_ARG(double, lr) = 0.01;
};

/// Shifts every convolution weight w [out, in, kh, kw] of `model` in place:
/// w - shift * mean over out + noise * std(w) * N(0, 1), the noise from `seed`. Returns
/// the tensors changed. Throws wmark::Error for a model without convolutions.
WMARK_API std::int64_t shift_convolution_weights(Network& model, double shift, double noise, std::uint64_t seed);

/// Shifts a copy of the victim's convolutions, then fine-tunes it.
class WMARK_API WeightShiftingAttack : public Attack {
 public:
  /// Checks the options against their declaration.
  explicit WeightShiftingAttack(WeightShiftingOptions options = {});
  /// The declared options: names, defaults, ranges and help (JSON, flags, reports).
  static const OptionBinding<WeightShiftingOptions>& declared_options();
  /// "weight-shifting".
  std::string name() const override { return "weight-shifting"; }
  /// The options as JSON.
  nlohmann::json options() const override;
  /// Details: "tensors" shifted, "epochs", "final_train_loss".
  AttackResult run(Network& victim, const AttackContext& context) const override;

 private:
  WeightShiftingOptions options_;
};

}  // namespace wmark
