/// \file
/// Retraining attacks (model extraction with in-distribution data, as the
/// Watermark-Robustness-Toolbox's `retraining` and `cross_architecture_retraining`):
/// the thief labels its own images of the victim's task with the victim's answers
/// (class probabilities by default) and trains a fresh model on them. Only the answers
/// are used, so the victim may be queried through its serving endpoint
/// (AttackContext::victim_endpoint, hard labels).
#pragma once

#include <string>

#include <torch/arg.h>

#include "wmark/attack/attack.h"

namespace wmark {

/// Options of RetrainingAttack and CrossArchitectureRetrainingAttack.
struct RetrainingOptions {
  /// The surrogate's architecture (registry name). Retraining: empty or the victim's.
  /// Cross-architecture: another one; empty picks cifar_cnn for mnist_cnn and
  /// resnet18 victims and resnet18 for cifar_cnn ones.
  TORCH_ARG(std::string, surrogate) = "";
  /// Images of the thief's data sent to the victim; 0 = all of them.
  TORCH_ARG(std::int64_t, budget) = 0;
  /// Train on the victim's class probabilities (true) or on its labels (false).
  TORCH_ARG(bool, soft_labels) = true;
  /// Times each image is asked, every repeat a near-twin of it (`vote_twin`); the
  /// majority answer is kept. A thief against a server that changes a keyed fraction of
  /// its answers (DAWN): the victim sees votes x budget queries.
  TORCH_ARG(std::int64_t, votes) = 1;
  /// How each repeat differs from the image: "nudge" (one pixel moved by one level),
  /// "noise" (Gaussian noise of `vote_noise` on every pixel, rounded to levels) or
  /// "shift" (the image moved by one pixel, up, down, left or right, edge repeated).
  TORCH_ARG(std::string, vote_twin) = "nudge";
  /// The noise's standard deviation for "noise" twins, in pixel range units (1 = 255 levels).
  TORCH_ARG(double, vote_noise) = 0.1;
  /// Keep only the images whose answers all agree (the others are dropped, not trained
  /// on): a thief who takes disagreement as the sign of a changed answer.
  TORCH_ARG(bool, vote_unanimous) = false;
  /// Drop the victim's answers that disagree with the thief's own labels of its images
  /// (a thief who holds labelled data and queries for the victim's function): the
  /// victim's mistakes go, and with them every answer a server changed on purpose.
  TORCH_ARG(bool, check_own_labels) = false;
  /// Training epochs of the surrogate.
  TORCH_ARG(std::int64_t, epochs) = 5;
  /// "sgd" (momentum 0.9) or "adam".
  TORCH_ARG(std::string, optimizer) = "adam";
  /// Learning rate (constant).
  TORCH_ARG(double, lr) = 0.002;
  /// Random crops and flips of the thief's images (CIFAR-style data).
  TORCH_ARG(bool, augment) = false;
};

/// Trains a fresh model of the victim's architecture on the victim's answers.
class WMARK_API RetrainingAttack : public Attack {
 public:
  /// Checks the options; throws wmark::Error for bad numbers.
  explicit RetrainingAttack(RetrainingOptions options = {});
  /// The declared options: names, defaults, ranges and help (JSON, flags, reports).
  static const OptionBinding<RetrainingOptions>& declared_options();
  /// "retraining".
  std::string name() const override { return "retraining"; }
  /// The options as JSON.
  nlohmann::json options() const override;
  /// True: only the victim's answers are used.
  bool queries_victim() const override { return true; }
  /// Details: "surrogate", "queries" (trained on), "soft_labels", "agreement" (with the
  /// victim's labels on the queries), "votes", "asked" (images sent, before any were
  /// dropped). Throws wmark::Error when `surrogate` names another architecture.
  AttackResult run(Network& victim, const AttackContext& context) const override;

 private:
  RetrainingOptions options_;
};

/// Trains a fresh model of another architecture on the victim's answers.
class WMARK_API CrossArchitectureRetrainingAttack : public Attack {
 public:
  /// Checks the options; throws wmark::Error for bad numbers.
  explicit CrossArchitectureRetrainingAttack(RetrainingOptions options = {});
  /// The declared options: names, defaults, ranges and help (JSON, flags, reports).
  static const OptionBinding<RetrainingOptions>& declared_options();
  /// "cross-architecture-retraining".
  std::string name() const override { return "cross-architecture-retraining"; }
  /// The options as JSON.
  nlohmann::json options() const override;
  /// True: only the victim's answers are used.
  bool queries_victim() const override { return true; }
  /// Details as RetrainingAttack's. Throws wmark::Error when the surrogate's
  /// architecture is the victim's, or when none is given for an architecture without a default.
  AttackResult run(Network& victim, const AttackContext& context) const override;

 private:
  RetrainingOptions options_;
};

}  // namespace wmark
