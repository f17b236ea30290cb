/// \file
/// Input reconstruction (the toolbox's `input_reconstruction`): the thief's deployment
/// passes every query through an autoencoder trained on the thief's own images before
/// the stolen model. What the autoencoder never saw (a stamp, noise, a foreign image) it
/// redraws as something like the images it knows, so a trigger may not reach the model.
/// The toolbox ships a pre-trained CIFAR-10 autoencoder; wmark trains one on the
/// attacker's data, for any dataset.
#pragma once

#include <string>

#include <torch/arg.h>

#include "wmark/attack/attack.h"

namespace wmark {

/// Options of InputReconstructionAttack.
struct InputReconstructionOptions {
  /// Channels of the bottleneck at a quarter of the image's side (8: 392 numbers for a
  /// 28x28 MNIST image, 512 for a 32x32x3 CIFAR-10 one).
  TORCH_ARG(std::int64_t, latent_channels) = 8;
  /// Adam steps of the autoencoder's training (binary cross-entropy per pixel), a batch each:
  /// counted in steps so that a thief with few images still gets a trained autoencoder.
  TORCH_ARG(std::int64_t, steps) = 2000;
  /// Adam's learning rate.
  TORCH_ARG(double, lr) = 0.002;
  /// Images per step.
  TORCH_ARG(std::int64_t, batch_size) = 64;
};

/// Trains the autoencoder; the deployment is the victim's weights behind it.
class WMARK_API InputReconstructionAttack : public Attack {
 public:
  /// Checks the options against their declaration.
  explicit InputReconstructionAttack(InputReconstructionOptions options = {});
  /// The declared options: names, defaults, ranges and help (JSON, flags, reports).
  static const OptionBinding<InputReconstructionOptions>& declared_options();
  /// "input-reconstruction".
  std::string name() const override { return "input-reconstruction"; }
  /// The options as JSON.
  nlohmann::json options() const override;
  /// Details: "reconstruction_mse" (per pixel on the [0,1] scale, the thief's images),
  /// "agreement" (the deployment's with the victim's labels on them), "final_train_loss"
  /// (the last step's cross-entropy).
  /// Throws wmark::Error for images whose sides are not multiples of 4.
  AttackResult run(Network& victim, const AttackContext& context) const override;

 private:
  InputReconstructionOptions options_;
};

}  // namespace wmark
