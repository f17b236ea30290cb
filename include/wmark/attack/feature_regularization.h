/// \file
/// Feature regularization (the Watermark-Robustness-Toolbox's `feature_regularization`):
/// the thief fine-tunes a copy with a loss that adds, for every hidden layer the model
/// taps, a random weight of the sample's class times the sample's mean activation
/// there. Each class's features are pushed by its own amount away from where training
/// left them, and the trigger set's features with them; plain fine-tuning then
/// restores the task.
#pragma once

#include <string>

#include <torch/arg.h>

#include "wmark/attack/attack.h"

namespace wmark {

/// Options of FeatureRegularizationAttack (defaults: the toolbox's ImageNet config,
/// one regularized epoch then three plain ones, f_reg 0.1 at its batch size of 32).
struct FeatureRegularizationOptions {
  /// Class weights are drawn from U(0, strength). The penalty is a batch mean here and
  /// a batch sum in the toolbox: strength = f_reg x batch size (0.1 x 32). On a model
  /// trained on 1,000 MNIST digits 3.2 cost the penalised epoch 6 points and 10
  /// silenced every unit; fully trained MNIST models lose under 2 points even at 10.
  TORCH_ARG(double, strength) = 3.2;
  /// Epochs with the feature penalty.
  TORCH_ARG(std::int64_t, reg_epochs) = 1;
  /// Plain fine-tuning epochs afterwards.
  TORCH_ARG(std::int64_t, epochs) = 3;
  /// "sgd" (momentum 0.9) or "adam", both phases.
  TORCH_ARG(std::string, optimizer) = "sgd";
  /// Learning rate (constant), both phases.
  TORCH_ARG(double, lr) = 0.01;
  /// Random crops and flips of the attacker's images (the toolbox flips its ImageNet
  /// inputs; off by default, as flipping digits changes them).
  TORCH_ARG(bool, augment) = false;
};

/// Fine-tunes a copy of the victim under a class-weighted feature penalty, then plainly.
class WMARK_API FeatureRegularizationAttack : public Attack {
 public:
  /// Checks the options against their declaration.
  explicit FeatureRegularizationAttack(FeatureRegularizationOptions options = {});
  /// The declared options: names, defaults, ranges and help (JSON, flags, reports).
  static const OptionBinding<FeatureRegularizationOptions>& declared_options();
  /// "feature-regularization".
  std::string name() const override { return "feature-regularization"; }
  /// The options as JSON.
  nlohmann::json options() const override;
  /// Penalises every tapped layer but the output layer (the model must tap at least
  /// one). Details: "penalized_layers", "class_weights", "accuracy_after_regularization"
  /// (on the attacker's data), "epochs" and "final_train_loss" (plain phase).
  AttackResult run(Network& victim, const AttackContext& context) const override;

 private:
  FeatureRegularizationOptions options_;
};

}  // namespace wmark
