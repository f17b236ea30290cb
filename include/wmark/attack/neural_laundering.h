/// \file
/// Neural network laundering (Aiken, Kim and Woo, Computers & Security 2021; the
/// toolbox's `neural_laundering`): reconstruct the planted trigger
/// (trigger_reconstruction.h), reset every exposed unit of the second half of the
/// network (the later half of its exposed layers, as the paper) whose mean activation the
/// stamp raises above a threshold (whole channels of a convolution, single units of a
/// linear layer), then retrain on the attacker's images and stamped copies of all of them
/// under their true labels.
#pragma once

#include <string>

#include <torch/arg.h>

#include "wmark/attack/attack.h"

namespace wmark {

/// Options of NeuralLaunderingAttack (defaults: the toolbox's CIFAR-10 config; its longer
/// trigger search as twice the steps of Neural Cleanse's).
struct NeuralLaunderingOptions {
  /// Trigger reconstruction: Adam steps per class.
  TORCH_ARG(std::int64_t, reverse_steps) = 600;
  /// Trigger reconstruction: further steps for the suspect classes.
  TORCH_ARG(std::int64_t, refine_steps) = 600;
  /// Trigger reconstruction: weight of the mask's L1 norm.
  TORCH_ARG(double, mask_weight) = 0.01;
  /// Trigger reconstruction: Adam's learning rate.
  TORCH_ARG(double, reverse_lr) = 0.1;
  /// A convolution's channel is reset when the stamp raises its mean activation (at its
  /// most raised position) by more than this.
  TORCH_ARG(double, conv_threshold) = 0.5;
  /// A linear layer's unit is reset when the stamp raises its mean activation by more than this.
  TORCH_ARG(double, fc_threshold) = 0.2;
  /// Retraining epochs.
  TORCH_ARG(std::int64_t, epochs) = 5;
  /// Optimiser of the retraining: "sgd" (momentum 0.9) or "adam".
  TORCH_ARG(std::string, optimizer) = "sgd";
  /// Learning rate of the retraining.
  TORCH_ARG(double, lr) = 0.01;
};

/// Reconstructs, resets and retrains a copy of the victim (see above).
class WMARK_API NeuralLaunderingAttack : public Attack {
 public:
  /// Checks the options against their declaration.
  explicit NeuralLaunderingAttack(NeuralLaunderingOptions options = {});
  /// The declared options: names, defaults, ranges and help (JSON, flags, reports).
  static const OptionBinding<NeuralLaunderingOptions>& declared_options();
  /// "neural-laundering".
  std::string name() const override { return "neural-laundering"; }
  /// The options as JSON.
  nlohmann::json options() const override;
  /// Details: "reconstruction", "reset" ({layer: units reset}), "units" ({layer: units}),
  /// "epochs", "final_train_loss". Throws wmark::Error for a model that exposes no
  /// hidden-unit activations (a TorchScript file).
  AttackResult run(Network& victim, const AttackContext& context) const override;

 private:
  NeuralLaunderingOptions options_;
};

}  // namespace wmark
