/// \file
/// Adversarial training (the toolbox's `adversarial_training`, after Madry et al., ICLR
/// 2018): fine-tune the stolen model on its own answers for the thief's images and on
/// projected-gradient-descent adversarial examples of them. A trigger set sits in regions
/// of input space where the model's answer changes abruptly; training for robustness
/// flattens such regions.
#pragma once

#include <string>

#include <torch/arg.h>

#include "wmark/attack/attack.h"
#include "wmark/data/dataset.h"

namespace wmark {

/// Options of AdversarialTrainingAttack (defaults: the toolbox's CIFAR-10 config, its
/// middle radius).
struct AdversarialTrainingOptions {
  /// L-infinity radius of the perturbation on the [0, 1] pixel scale (the toolbox tries
  /// 0.01, 0.1 and 0.25).
  TORCH_ARG(double, eps) = 0.1;
  /// Step of projected gradient descent on the [0, 1] pixel scale.
  TORCH_ARG(double, eps_step) = 0.01;
  /// Steps of projected gradient descent per adversarial example.
  TORCH_ARG(std::int64_t, max_iter) = 40;
  /// Fraction of the thief's images whose adversarial example joins each epoch's training.
  TORCH_ARG(double, ratio) = 0.5;
  /// Training epochs; the adversarial examples are crafted anew against the copy before each.
  TORCH_ARG(std::int64_t, epochs) = 5;
  /// Optimiser of the training: "sgd" (momentum 0.9) or "adam".
  TORCH_ARG(std::string, optimizer) = "sgd";
  /// Learning rate of the training.
  TORCH_ARG(double, lr) = 0.01;
};

/// Projected gradient descent (untargeted, no random start, as the toolbox's): `images`
/// (uint8 [N,C,H,W]) moved by `max_iter` steps of `eps_step` times the sign of the
/// gradient of the cross-entropy away from `labels`, each time projected back into the
/// L-infinity ball of radius `eps` around them and into [0, 1]; returned as uint8 pixels
/// (rounded, so the radius holds to half a grey level). `model` is left in eval mode.
WMARK_API at::Tensor pgd_examples(Network& model, const at::Tensor& images, const at::Tensor& labels,
                                  const Normalization& normalization, double eps, double eps_step,
                                  std::int64_t max_iter, c10::Device device);

/// Fine-tunes a copy of the victim on the thief's images and their adversarial examples,
/// all labelled with the victim's answers for the clean images.
class WMARK_API AdversarialTrainingAttack : public Attack {
 public:
  /// Checks the options against their declaration.
  explicit AdversarialTrainingAttack(AdversarialTrainingOptions options = {});
  /// The declared options: names, defaults, ranges and help (JSON, flags, reports).
  static const OptionBinding<AdversarialTrainingOptions>& declared_options();
  /// "adversarial-training".
  std::string name() const override { return "adversarial-training"; }
  /// The options as JSON.
  nlohmann::json options() const override;
  /// Details: "adversarial_per_epoch", "victim_adversarial_accuracy" and
  /// "copy_adversarial_accuracy" (agreement with the victim's labels on fresh
  /// adversarial examples of a fifth of the thief's images, crafted against each
  /// model), "epochs", "final_train_loss".
  AttackResult run(Network& victim, const AttackContext& context) const override;

 private:
  AdversarialTrainingOptions options_;
};

}  // namespace wmark
