/// \file
/// Fine-tuning attack: continue training the stolen model on the attacker's data.
/// With reinit_last_layer and train_layers it covers the four variants of Adi et al.
/// (FTLL, FTAL, RTLL, RTAL).
#pragma once

#include <string>

#include <torch/arg.h>

#include "wmark/attack/attack.h"

namespace wmark {

/// Options of FinetuneAttack.
struct FinetuneOptions {
  /// Epochs over the attacker's data.
  TORCH_ARG(std::int64_t, epochs) = 5;
  /// "sgd" (momentum 0.9) or "adam".
  TORCH_ARG(std::string, optimizer) = "sgd";
  /// Learning rate (constant).
  TORCH_ARG(double, lr) = 0.01;
  /// Re-initialise the output layer before training (RTLL/RTAL).
  TORCH_ARG(bool, reinit_last_layer) = false;
  /// "all" layers or only the "last" (output) layer are trained.
  TORCH_ARG(std::string, train_layers) = "all";
};

/// Fine-tunes a copy of the victim on the attacker's labelled data.
class WMARK_API FinetuneAttack : public Attack {
 public:
  /// Requires epochs >= 1, lr > 0, train_layers "all" or "last"; throws wmark::Error otherwise.
  explicit FinetuneAttack(FinetuneOptions options = {});
  /// The declared options: names, defaults, ranges and help (JSON, flags, reports).
  static const OptionBinding<FinetuneOptions>& declared_options();
  /// "finetune".
  std::string name() const override { return "finetune"; }
  /// The options as JSON.
  nlohmann::json options() const override;
  /// Details: "output_layer" (the layer reinitialised or trained alone), "epochs", "history".
  AttackResult run(Network& victim, const AttackContext& context) const override;

 private:
  FinetuneOptions options_;
};

/// The name of the output layer's weight: the last 2-D parameter named "...weight"
/// with `num_classes` rows. Throws wmark::Error if the model has none.
WMARK_API std::string output_layer_weight(Network& model, std::int64_t num_classes);

/// Re-initialises the output layer (weight and its bias) as torch::nn::Linear does,
/// drawing from `seed`. Returns the weight's name.
WMARK_API std::string reinitialize_output_layer(Network& model, std::int64_t num_classes, std::uint64_t seed);

/// Leaves only the output layer (the module of `output_weight`, as output_layer_weight()
/// names it) trainable: every other parameter stops requiring gradients until the
/// caller sets them back.
WMARK_API void train_only_output_layer(Network& model, const std::string& output_weight);

}  // namespace wmark
