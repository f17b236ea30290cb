/// \file
/// Random occlusion (the toolbox's `random_occlusion`): fine-tune the stolen model on
/// the thief's images and copies of them with a random rectangle of noise pasted in, a
/// few rounds over fresh occlusions. Like adversarial training, but with occlusions: a
/// stamp-like trigger competes with patches the model learns to ignore.
#pragma once

#include <string>

#include <torch/arg.h>

#include "wmark/attack/attack.h"

namespace wmark {

/// Options of RandomOcclusionAttack (defaults: the toolbox's config).
struct RandomOcclusionOptions {
  /// Rounds, each with fresh occlusions of every image.
  TORCH_ARG(std::int64_t, repeats) = 5;
  /// Training epochs per round.
  TORCH_ARG(std::int64_t, epochs) = 1;
  /// A rectangle's width and height are drawn from [1, 2 x this x the image's side).
  TORCH_ARG(double, max_occlusion_ratio) = 0.25;
  /// Optimiser of the training: "sgd" (momentum 0.9) or "adam".
  TORCH_ARG(std::string, optimizer) = "sgd";
  /// Learning rate of the training.
  TORCH_ARG(double, lr) = 0.01;
};

/// `images` (uint8 [N,C,H,W]) each with one rectangle of uniform noise pasted in: width
/// and height drawn from [1, max(2, 2 `ratio` side)), the top-left corner anywhere in the
/// image (the rectangle is cut at its edges), all drawn from `generator`.
WMARK_API at::Tensor occluded(const at::Tensor& images, double ratio, at::Generator& generator);

/// Fine-tunes a copy of the victim on the thief's images plus occluded copies under
/// the same labels, `repeats` rounds of `epochs`.
class WMARK_API RandomOcclusionAttack : public Attack {
 public:
  /// Checks the options against their declaration.
  explicit RandomOcclusionAttack(RandomOcclusionOptions options = {});
  /// The declared options: names, defaults, ranges and help (JSON, flags, reports).
  static const OptionBinding<RandomOcclusionOptions>& declared_options();
  /// "random-occlusion".
  std::string name() const override { return "random-occlusion"; }
  /// The options as JSON.
  nlohmann::json options() const override;
  /// Details: "repeats", "epochs" (all rounds), "final_train_loss".
  AttackResult run(Network& victim, const AttackContext& context) const override;

 private:
  RandomOcclusionOptions options_;
};

}  // namespace wmark
