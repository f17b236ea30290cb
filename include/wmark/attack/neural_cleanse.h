/// \file
/// Neural Cleanse's two patches (Wang et al., IEEE S&P 2019; the toolbox's
/// `neural_cleanse_unlearning` and `neural_cleanse_pruning`): reconstruct the trigger a
/// trigger-set watermark planted (trigger_reconstruction.h), then either teach the
/// model that the stamp means nothing (unlearning) or silence the units the stamp
/// excites (pruning). Both need only the attacker's labelled data.
#pragma once

#include <string>

#include <torch/arg.h>

#include "wmark/attack/attack.h"

namespace wmark {

/// Options of NeuralCleanseUnlearningAttack (defaults: the toolbox's CIFAR-10 config).
struct NeuralCleanseUnlearningOptions {
  /// Trigger reconstruction: Adam steps per class.
  TORCH_ARG(std::int64_t, reverse_steps) = 300;
  /// Trigger reconstruction: further steps for the suspect classes.
  TORCH_ARG(std::int64_t, refine_steps) = 600;
  /// Trigger reconstruction: weight of the mask's L1 norm.
  TORCH_ARG(double, mask_weight) = 0.01;
  /// Trigger reconstruction: Adam's learning rate.
  TORCH_ARG(double, reverse_lr) = 0.1;
  /// Fraction of the attacker's images added again with a suspect trigger stamped, true label kept.
  TORCH_ARG(double, stamped_fraction) = 0.2;
  /// Fine-tuning epochs on the attacker's images and the stamped copies.
  TORCH_ARG(std::int64_t, epochs) = 5;
  /// Optimiser of the fine-tuning: "sgd" (momentum 0.9) or "adam".
  TORCH_ARG(std::string, optimizer) = "sgd";
  /// Learning rate of the fine-tuning.
  TORCH_ARG(double, lr) = 0.01;
};

/// Reconstructs the triggers, then fine-tunes a copy of the victim on the attacker's
/// data plus copies stamped with the suspect triggers under their true labels.
class WMARK_API NeuralCleanseUnlearningAttack : public Attack {
 public:
  /// Checks the options against their declaration.
  explicit NeuralCleanseUnlearningAttack(NeuralCleanseUnlearningOptions options = {});
  /// The declared options: names, defaults, ranges and help (JSON, flags, reports).
  static const OptionBinding<NeuralCleanseUnlearningOptions>& declared_options();
  /// "neural-cleanse-unlearning".
  std::string name() const override { return "neural-cleanse-unlearning"; }
  /// The options as JSON.
  nlohmann::json options() const override;
  /// Details: "reconstruction" (TriggerReconstruction::summary()), "stamped" (copies
  /// added), "epochs", "final_train_loss".
  AttackResult run(Network& victim, const AttackContext& context) const override;

 private:
  NeuralCleanseUnlearningOptions options_;
};

/// Options of NeuralCleansePruningAttack (defaults: the toolbox's CIFAR-10 config).
struct NeuralCleansePruningOptions {
  /// Trigger reconstruction: Adam steps per class.
  TORCH_ARG(std::int64_t, reverse_steps) = 300;
  /// Trigger reconstruction: further steps for the suspect classes.
  TORCH_ARG(std::int64_t, refine_steps) = 600;
  /// Trigger reconstruction: weight of the mask's L1 norm.
  TORCH_ARG(double, mask_weight) = 0.01;
  /// Trigger reconstruction: Adam's learning rate.
  TORCH_ARG(double, reverse_lr) = 0.1;
  /// The hidden-unit layer to prune; "" = the last whose activations the model exposes
  /// (Neural Cleanse prunes the second-to-last layer).
  TORCH_ARG(std::string, layer) = "";
  /// Fraction of its units pruned, those the stamp excites most first, in [0, 0.99].
  TORCH_ARG(double, rate) = 0.1;
  /// Fine-tuning epochs after pruning, the pruned units held at zero (0 = none, as the toolbox).
  TORCH_ARG(std::int64_t, epochs) = 0;
  /// Optimiser of the fine-tuning: "sgd" (momentum 0.9) or "adam".
  TORCH_ARG(std::string, optimizer) = "sgd";
  /// Learning rate of the fine-tuning.
  TORCH_ARG(double, lr) = 0.01;
};

/// Reconstructs the triggers, then prunes the units whose mean activation the stamps
/// raise most over the attacker's clean images.
class WMARK_API NeuralCleansePruningAttack : public Attack {
 public:
  /// Checks the options against their declaration.
  explicit NeuralCleansePruningAttack(NeuralCleansePruningOptions options = {});
  /// The declared options: names, defaults, ranges and help (JSON, flags, reports).
  static const OptionBinding<NeuralCleansePruningOptions>& declared_options();
  /// "neural-cleanse-pruning".
  std::string name() const override { return "neural-cleanse-pruning"; }
  /// The options as JSON.
  nlohmann::json options() const override;
  /// Details: "reconstruction", "layer", "units", "pruned" (unit indices, most excited
  /// first), "epochs". Throws wmark::Error for a model that exposes no activations of
  /// the layer (a TorchScript file, a user's own network).
  AttackResult run(Network& victim, const AttackContext& context) const override;

 private:
  NeuralCleansePruningOptions options_;
};

}  // namespace wmark
