/// \file
/// Fine-pruning (Liu, Dolan-Gavitt and Garg, RAID 2018; the toolbox's `fine_pruning`):
/// the units of the last convolutional layer that the attacker's clean data leaves least
/// active are where a backdoor (or a trigger-set watermark) can hide; prune them, then
/// fine-tune with them held at zero.
#pragma once

#include <string>

#include <torch/arg.h>

#include "wmark/attack/attack.h"

namespace wmark {

/// Options of FinePruningAttack.
struct FinePruningOptions {
  /// The hidden-unit layer to prune (see hidden_unit_layers()); "" = the last
  /// convolutional one whose activations the model exposes.
  TORCH_ARG(std::string, layer) = "";
  /// Fraction of its units pruned, least active first, in [0, 0.99].
  TORCH_ARG(double, rate) = 0.9;
  /// Fine-tuning epochs after pruning (the pruned units stay at zero); 0 = none.
  TORCH_ARG(std::int64_t, epochs) = 5;
  /// Optimiser of the fine-tuning: "sgd" (momentum 0.9) or "adam".
  TORCH_ARG(std::string, optimizer) = "sgd";
  /// Learning rate of the fine-tuning.
  TORCH_ARG(double, lr) = 0.01;
};

/// Prunes the least active units of a copy of the victim, then fine-tunes it.
class WMARK_API FinePruningAttack : public Attack {
 public:
  /// Checks the options against their declaration.
  explicit FinePruningAttack(FinePruningOptions options = {});
  /// The declared options: names, defaults, ranges and help (JSON, flags, reports).
  static const OptionBinding<FinePruningOptions>& declared_options();
  /// "fine-pruning".
  std::string name() const override { return "fine-pruning"; }
  /// The options as JSON.
  nlohmann::json options() const override;
  /// Details: "layer", "units", "pruned" (unit indices, least active first),
  /// "epochs". Throws wmark::Error for a model that does not expose the activations of
  /// the layer (a TorchScript file, a user's own network). resnet18's units are those
  /// inside its residual blocks (the last is layers.7.conv1).
  AttackResult run(Network& victim, const AttackContext& context) const override;

 private:
  FinePruningOptions options_;
};

}  // namespace wmark
