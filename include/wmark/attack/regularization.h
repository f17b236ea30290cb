/// \file
/// Regularization (the Watermark-Robustness-Toolbox's `regularization`): train the
/// stolen model under strong L2 weight decay, which shrinks the weights the task does
/// not need (those a trigger set may live in), then fine-tune without it until the
/// accuracy on a held-out part of the attacker's data stops improving.
#pragma once

#include <string>

#include <torch/arg.h>

#include "wmark/attack/attack.h"

namespace wmark {

/// Options of RegularizationAttack (defaults: the toolbox's CIFAR-10 config, except
/// that early stopping watches held-out accuracy where the toolbox watches its loss).
struct RegularizationOptions {
  /// Weight decay of the regularization phase.
  TORCH_ARG(double, l2_decay) = 0.1;
  /// Epochs of the regularization phase.
  TORCH_ARG(std::int64_t, reg_epochs) = 5;
  /// Most epochs of the fine-tuning phase.
  TORCH_ARG(std::int64_t, max_ft_epochs) = 50;
  /// Fine-tuning stops after this many epochs without a better held-out accuracy.
  TORCH_ARG(std::int64_t, patience) = 5;
  /// Fraction of the attacker's data held out for early stopping (not trained on).
  TORCH_ARG(double, validation) = 0.1;
  /// "sgd" (momentum 0.9) or "adam", both phases.
  TORCH_ARG(std::string, optimizer) = "sgd";
  /// Learning rate (constant), both phases.
  TORCH_ARG(double, lr) = 0.01;
};

/// Regularizes, then fine-tunes, a copy of the victim.
class WMARK_API RegularizationAttack : public Attack {
 public:
  /// Checks the options against their declaration.
  explicit RegularizationAttack(RegularizationOptions options = {});
  /// The declared options: names, defaults, ranges and help (JSON, flags, reports).
  static const OptionBinding<RegularizationOptions>& declared_options();
  /// "regularization".
  std::string name() const override { return "regularization"; }
  /// The options as JSON.
  nlohmann::json options() const override;
  /// Details: "reg_epochs", "held_out_accuracy_after_regularization", "epochs" (of
  /// fine-tuning, early stopping included), "best_held_out_accuracy", "final_train_loss".
  AttackResult run(Network& victim, const AttackContext& context) const override;

 private:
  RegularizationOptions options_;
};

}  // namespace wmark
