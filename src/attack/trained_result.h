// Internal: what the attacks that train a copy of the victim return.
#pragma once

#include <nlohmann/json.hpp>

#include "wmark/attack/attack.h"
#include "wmark/train/trainer.h"

namespace wmark {

/// {"epochs": epochs run, "final_train_loss": the last epoch's mean loss (0 for none)}.
inline nlohmann::json fit_details(const TrainResult& fit) {
  return {{"epochs", fit.history.size()},
          {"final_train_loss", fit.history.empty() ? 0.0 : fit.history.back().train_loss}};
}

/// The result of an attack that trained `model` (of the victim's architecture): the
/// model, and fit_details() for the attack to add its own figures to.
inline AttackResult trained_result(NetworkPtr model, const AttackContext& context, const TrainResult& fit) {
  AttackResult result;
  result.model = std::move(model);
  result.arch = context.arch;
  result.details = fit_details(fit);
  return result;
}

}  // namespace wmark
