/// \file
/// Model inversion as Zhang et al. discuss it: for each class, optimise an input from
/// noise to maximise that class's score under a smoothness prior, and see whether the
/// recovered images show (or act as) the secret triggers.
#pragma once

#include <torch/arg.h>

#include "wmark/attack/attack.h"

namespace wmark {

/// Options of InversionAttack.
struct InversionOptions {
  /// Adam steps per image.
  TORCH_ARG(std::int64_t, steps) = 300;
  /// Adam learning rate on the image's logit-space parameters.
  TORCH_ARG(double, lr) = 0.05;
  /// Weight of the total-variation (smoothness) prior.
  TORCH_ARG(double, tv_weight) = 0.05;
  /// Weight of the L2 pull towards mid-grey.
  TORCH_ARG(double, l2_weight) = 0.001;
  /// Images recovered per class (from different noise starts).
  TORCH_ARG(std::int64_t, per_class) = 1;
};

/// Recovers one or more images per class; returns no model.
class WMARK_API InversionAttack : public Attack {
 public:
  /// Checks the options; throws wmark::Error for non-positive steps, lr or per_class.
  explicit InversionAttack(InversionOptions options = {});
  /// The declared options: names, defaults, ranges and help (JSON, flags, reports).
  static const OptionBinding<InversionOptions>& declared_options();
  /// "inversion".
  std::string name() const override { return "inversion"; }
  /// The options as JSON.
  nlohmann::json options() const override;
  /// Images uint8 [classes*per_class,C,H,W] with their classes; details per class:
  /// "score_before"/"score_after" (logit) and "probability_after" (softmax).
  AttackResult run(Network& victim, const AttackContext& context) const override;

 private:
  InversionOptions options_;
};

/// Total variation of float images [N,C,H,W]: mean absolute difference of neighbours.
WMARK_API at::Tensor total_variation(const at::Tensor& images);

}  // namespace wmark
