/// \file
/// Knockoff Nets (Orekondy et al., CVPR 2019), random-selection strategy: the thief
/// sends the victim images of *another* dataset (Fashion-MNIST or CIFAR-10 images for
/// an MNIST victim, converted to the victim's input shape), within a query budget, and
/// trains a fresh model on the answers. The thief needs no data of the victim's task;
/// the victim may be queried through its serving endpoint
/// (AttackContext::victim_endpoint, hard labels).
#pragma once

#include <string>

#include <torch/arg.h>

#include "wmark/attack/attack.h"

namespace wmark {

/// Options of KnockoffAttack.
struct KnockoffOptions {
  /// Where the queries come from: a dataset name ("fashion", "mnist", "cifar10"),
  /// its training split; images are converted to the victim's input shape.
  TORCH_ARG(std::string, query_dataset) = "fashion";
  /// Queries sent to the victim (images drawn without replacement).
  TORCH_ARG(std::int64_t, budget) = 20000;
  /// Train on the victim's class probabilities (the paper's setting) or its labels.
  TORCH_ARG(bool, soft_labels) = true;
  /// The surrogate's architecture (registry name); empty = the victim's.
  TORCH_ARG(std::string, surrogate) = "";
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
  /// Training epochs of the surrogate.
  TORCH_ARG(std::int64_t, epochs) = 5;
  /// "sgd" (momentum 0.9) or "adam".
  TORCH_ARG(std::string, optimizer) = "adam";
  /// Learning rate (constant).
  TORCH_ARG(double, lr) = 0.002;
  /// Random crops and flips of the query images (CIFAR-style data).
  TORCH_ARG(bool, augment) = false;
};

/// Queries the victim with another dataset's images and trains a surrogate on the answers.
class WMARK_API KnockoffAttack : public Attack {
 public:
  /// Checks the options; throws wmark::Error for bad numbers or an unknown dataset.
  explicit KnockoffAttack(KnockoffOptions options = {});
  /// The declared options: names, defaults, ranges and help (JSON, flags, reports).
  static const OptionBinding<KnockoffOptions>& declared_options();
  /// "knockoff".
  std::string name() const override { return "knockoff"; }
  /// The options as JSON.
  nlohmann::json options() const override;
  /// True: only the victim's answers are used.
  bool queries_victim() const override { return true; }
  /// Loads the query dataset from context.data_dir when it holds it, else from the
  /// usual search path (catalog.h). Details: "surrogate", "queries" (trained on),
  /// "soft_labels", "agreement" (with the victim on the queries), "votes", "asked"
  /// (images sent, before any a unanimous voter dropped), "query_dataset",
  /// "query_class_spread" (the share of queries the victim put in its most frequent
  /// class: near 1 means the queries told the thief little).
  AttackResult run(Network& victim, const AttackContext& context) const override;

 private:
  KnockoffOptions options_;
};

}  // namespace wmark
