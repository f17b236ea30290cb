/// \file
/// Fine-tuning on perturbed labels (the Watermark-Robustness-Toolbox's
/// `label_smoothing` and `label_noising`): the thief fine-tunes on its data with
/// targets that move probability mass off the true class, which flattens the sharp
/// decision regions a trigger set relies on. Label smoothing spreads epsilon evenly
/// over all classes; label noising puts it on one random class per sample.
#pragma once

#include <string>

#include <torch/arg.h>

#include "wmark/attack/attack.h"

namespace wmark {

/// Options of LabelSmoothingAttack and LabelNoisingAttack (defaults: the toolbox's
/// CIFAR-10 label-smoothing config, 5 epochs at epsilon 0.3).
struct LabelAttackOptions {
  /// Fine-tuning epochs over the attacker's data.
  TORCH_ARG(std::int64_t, epochs) = 5;
  /// Probability mass moved off the labelled class, in [0, 1).
  TORCH_ARG(double, epsilon) = 0.3;
  /// "sgd" (momentum 0.9) or "adam".
  TORCH_ARG(std::string, optimizer) = "sgd";
  /// Learning rate (constant).
  TORCH_ARG(double, lr) = 0.01;
};

/// The targets of label smoothing: (1 - epsilon) one-hot(label) + epsilon / C on every
/// class; float [N, C] for int64 `labels` [N].
WMARK_API at::Tensor smoothed_labels(const at::Tensor& labels, std::int64_t num_classes, double epsilon);

/// The targets of label noising: (1 - epsilon) one-hot(label) + epsilon one-hot(r) with
/// r a class drawn uniformly per sample from `seed` (r may be the label itself).
WMARK_API at::Tensor noised_labels(const at::Tensor& labels, std::int64_t num_classes, double epsilon,
                                   std::uint64_t seed);

/// Fine-tunes a copy of the victim on smoothed labels.
class WMARK_API LabelSmoothingAttack : public Attack {
 public:
  /// Checks the options against their declaration.
  explicit LabelSmoothingAttack(LabelAttackOptions options = {});
  /// The declared options: names, defaults, ranges and help (JSON, flags, reports).
  static const OptionBinding<LabelAttackOptions>& declared_options();
  /// "label-smoothing".
  std::string name() const override { return "label-smoothing"; }
  /// The options as JSON.
  nlohmann::json options() const override;
  /// Details: "epochs", "final_train_loss".
  AttackResult run(Network& victim, const AttackContext& context) const override;

 private:
  LabelAttackOptions options_;
};

/// Fine-tunes a copy of the victim on noised labels.
class WMARK_API LabelNoisingAttack : public Attack {
 public:
  /// Checks the options against their declaration.
  explicit LabelNoisingAttack(LabelAttackOptions options = {});
  /// The declared options: names, defaults, ranges and help (JSON, flags, reports).
  static const OptionBinding<LabelAttackOptions>& declared_options();
  /// "label-noising".
  std::string name() const override { return "label-noising"; }
  /// The options as JSON.
  nlohmann::json options() const override;
  /// Details: "epochs", "final_train_loss".
  AttackResult run(Network& victim, const AttackContext& context) const override;

 private:
  LabelAttackOptions options_;
};

}  // namespace wmark
