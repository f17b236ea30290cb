/// \file
/// Parameter pruning attack: zero the smallest-magnitude weights, optionally fine-tune.
#pragma once

#include <string>
#include <vector>

#include <torch/arg.h>

#include "wmark/attack/attack.h"
#include "wmark/train/hooks.h"

namespace wmark {

/// Options of PruneAttack.
struct PruneOptions {
  /// Fraction of convolution and linear weights set to zero, in [0, 0.95].
  TORCH_ARG(double, rate) = 0.5;
  /// "global": one magnitude threshold over all layers; "layer": the rate in every layer.
  TORCH_ARG(std::string, scope) = "global";
  /// Fine-tuning epochs after pruning (pruned weights stay zero); 0 = none.
  TORCH_ARG(std::int64_t, finetune_epochs) = 0;
  /// Optimiser of the fine-tuning: "sgd" (momentum 0.9) or "adam".
  TORCH_ARG(std::string, optimizer) = "sgd";
  /// Learning rate of the fine-tuning.
  TORCH_ARG(double, lr) = 0.01;
};

/// Which weights pruning keeps: one mask per prunable weight.
struct PruneMask {
  std::vector<std::string> names;  ///< parameter names, in the model's order
  std::vector<at::Tensor> keep;    ///< bool masks, true = kept, one per name
};

/// The prunable weights: parameters named "...weight" with 2 (linear) or 4
/// (convolution) dimensions; biases and normalisation layers are left alone.
WMARK_API std::vector<std::string> prunable_weights(Network& model);

/// Zeroes exactly floor(rate * n) of the smallest-magnitude prunable weights (n counted
/// over all of them for "global", per weight for "layer") and returns the mask.
/// Requires rate in [0, 0.95] and scope "global" or "layer".
WMARK_API PruneMask prune_by_magnitude(Network& model, double rate, const std::string& scope);

/// Applies a mask (zeroes the pruned weights) after each optimiser step of a Trainer.
WMARK_API std::shared_ptr<TrainerHook> make_prune_mask_hook(PruneMask mask);

/// Prunes a copy of the victim, then optionally fine-tunes it with the mask held.
class WMARK_API PruneAttack : public Attack {
 public:
  /// Checks the options; throws wmark::Error for a rate outside [0, 0.95] or an unknown scope.
  explicit PruneAttack(PruneOptions options = {});
  /// The declared options: names, defaults, ranges and help (JSON, flags, reports).
  static const OptionBinding<PruneOptions>& declared_options();
  /// "prune".
  std::string name() const override { return "prune"; }
  /// The options as JSON.
  nlohmann::json options() const override;
  /// Details: "sparsity" (zeroed fraction of prunable weights), "layers" (per-weight sparsity).
  AttackResult run(Network& victim, const AttackContext& context) const override;

 private:
  PruneOptions options_;
};

}  // namespace wmark
