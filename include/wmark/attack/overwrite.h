/// \file
/// Overwriting attack: the thief embeds a trigger-set watermark of their own by
/// fine-tuning, hoping to displace the owner's (or to claim the model as theirs).
#pragma once

#include <string>

#include <nlohmann/json.hpp>
#include <torch/arg.h>

#include "wmark/attack/attack.h"

namespace wmark {

/// Options of OverwriteAttack.
struct OverwriteOptions {
  /// The attacker's trigger generator (registry name). Noise by default: triggers drawn
  /// from the attacker's own seed, unrelated to the owner's. A content trigger with the
  /// owner's own stamp models an attacker who knows the owner's pattern.
  TORCH_ARG(std::string, trigger) = "noise";
  /// Generator options, e.g. {"text": "MINE"} for a content trigger.
  TORCH_ARG(nlohmann::json, trigger_options) = nlohmann::json::object();
  /// Label policy of the attacker's triggers ("auto", "target", "random").
  TORCH_ARG(std::string, label_policy) = "auto";
  /// The attacker's target class with the "target" policy; -1 = drawn from their secret.
  TORCH_ARG(std::int64_t, target_label) = -1;
  /// Number of attacker triggers.
  TORCH_ARG(std::int64_t, trigger_size) = 100;
  /// Fine-tuning epochs on the attacker's data mixed with their triggers.
  TORCH_ARG(std::int64_t, epochs) = 5;
  /// "sgd" (momentum 0.9) or "adam".
  TORCH_ARG(std::string, optimizer) = "sgd";
  /// Learning rate (constant).
  TORCH_ARG(double, lr) = 0.01;
};

/// Embeds the attacker's own watermark (seeded from context.seed) into a copy of the victim.
class WMARK_API OverwriteAttack : public Attack {
 public:
  /// Checks the options; throws wmark::Error for an unknown generator or bad numbers.
  explicit OverwriteAttack(OverwriteOptions options = {});
  /// The declared options: names, defaults, ranges and help (JSON, flags, reports).
  static const OptionBinding<OverwriteOptions>& declared_options();
  /// "overwrite".
  std::string name() const override { return "overwrite"; }
  /// The options as JSON.
  nlohmann::json options() const override;
  /// Details: "attacker_trigger_accuracy" (how well the attacker's own watermark took).
  AttackResult run(Network& victim, const AttackContext& context) const override;

 private:
  OverwriteOptions options_;
};

}  // namespace wmark
