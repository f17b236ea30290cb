/// \file
/// Distillation attack: train a fresh student only on the victim's predicted labels
/// over the attacker's (unlabelled) data; the victim is used as a black box.
#pragma once

#include <string>

#include <torch/arg.h>

#include "wmark/attack/attack.h"

namespace wmark {

/// Options of DistillAttack.
struct DistillOptions {
  /// The student's architecture (registry name); empty = the victim's.
  TORCH_ARG(std::string, student) = "";
  /// Training epochs of the student.
  TORCH_ARG(std::int64_t, epochs) = 5;
  /// "sgd" (momentum 0.9) or "adam".
  TORCH_ARG(std::string, optimizer) = "adam";
  /// Learning rate (constant).
  TORCH_ARG(double, lr) = 0.002;
  /// Random crops and flips of the attacker's images (CIFAR-style data).
  TORCH_ARG(bool, augment) = false;
};

/// Labels the attacker's images with the victim and trains a fresh student on them.
class WMARK_API DistillAttack : public Attack {
 public:
  /// Checks the options; throws wmark::Error for bad numbers.
  explicit DistillAttack(DistillOptions options = {});
  /// The declared options: names, defaults, ranges and help (JSON, flags, reports).
  static const OptionBinding<DistillOptions>& declared_options();
  /// "distill".
  std::string name() const override { return "distill"; }
  /// The options as JSON.
  nlohmann::json options() const override;
  /// True: only the victim's answers are used.
  bool queries_victim() const override { return true; }
  /// Details: "student" (= "surrogate"), "queries", "soft_labels" (false), "agreement"
  /// (student agrees with the victim on the attacker's data),
  /// "victim_accuracy_on_attacker_data".
  AttackResult run(Network& victim, const AttackContext& context) const override;

 private:
  DistillOptions options_;
};

}  // namespace wmark
