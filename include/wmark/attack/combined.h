/// \file
/// Stacked attacks (the toolbox's `combined_attack` configs: weight shifting then input
/// smoothing, adversarial training then RTAL, ...): each stage attacks the model the
/// stage before produced; input transforms of the stages are applied one after the
/// other at inference, in stage order.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/arg.h>

#include "wmark/attack/attack.h"

namespace wmark {

/// Options of CombinedAttack: each stage {"attack": NAME, "options": {...}}; an empty
/// object is no stage. run() needs at least `first` and `second`.
struct CombinedOptions {
  /// The first attack, on the victim.
  TORCH_ARG(nlohmann::json, first) = nlohmann::json::object();
  /// The second attack, on the first one's model.
  TORCH_ARG(nlohmann::json, second) = nlohmann::json::object();
  /// An optional third attack, on the second one's model.
  TORCH_ARG(nlohmann::json, third) = nlohmann::json::object();
};

/// Runs the stages in order (see above), each built from attack_registry(). A stage
/// that yields no model (inversion) is refused, as is an evasion stage (query-detection)
/// anywhere but last or after a stage with an input transform.
class WMARK_API CombinedAttack : public Attack {
 public:
  /// Builds every stage from the attack registry (unknown names and options are refused).
  explicit CombinedAttack(CombinedOptions options = {});
  /// The declared options: names, defaults, ranges and help (JSON, flags, reports).
  static const OptionBinding<CombinedOptions>& declared_options();
  /// "combined".
  std::string name() const override { return "combined"; }
  /// True when every stage only queries the victim (then the first one may query an endpoint).
  bool queries_victim() const override;
  /// The options as JSON, as given (each stage's options in full are in run()'s details).
  nlohmann::json options() const override;
  /// Details: "stages", [{"attack", "options", "details"}] in order. Each stage's seed
  /// derives from the context's seed and its position.
  AttackResult run(Network& victim, const AttackContext& context) const override;

 private:
  CombinedOptions options_;
  std::vector<std::shared_ptr<const Attack>> stages_;
};

}  // namespace wmark
