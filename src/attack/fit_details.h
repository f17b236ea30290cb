// Internal: what the attacks that train report about their training.
#pragma once

#include <nlohmann/json.hpp>

#include "wmark/train/trainer.h"

namespace wmark {

/// {"epochs": epochs run, "final_train_loss": the last epoch's mean loss (0 for none)}.
inline nlohmann::json fit_details(const TrainResult& fit) {
  return {{"epochs", fit.history.size()},
          {"final_train_loss", fit.history.empty() ? 0.0 : fit.history.back().train_loss}};
}

}  // namespace wmark
