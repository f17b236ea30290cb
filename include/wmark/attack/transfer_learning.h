/// \file
/// Transfer learning (the Watermark-Robustness-Toolbox's `transfer_learning`): the thief
/// owns a network pretrained on another task (the toolbox: Open Images; here a dataset
/// of `parent_dataset`, the pretraining done by the attack), replaces its output layer,
/// trains the new layer alone and then the whole network on the victim's answers to
/// the thief's data. The copy's features come from the thief's own pretraining, not
/// from the victim's weights; only the victim's labels carry over. The victim may be
/// queried through its serving endpoint (AttackContext::victim_endpoint, hard labels).
#pragma once

#include <string>

#include <torch/arg.h>

#include "wmark/attack/attack.h"

namespace wmark {

/// Options of TransferLearningAttack (defaults: the toolbox's CIFAR-10 config, five
/// epochs on the victim's hard labels, with a frozen-body epoch first as its
/// Open Images configs train the new layer alone before the rest).
struct TransferLearningOptions {
  /// What the parent network was pretrained on: a dataset name ("fashion", "mnist",
  /// "cifar10"), its training split, images converted to the victim's input shape.
  TORCH_ARG(std::string, parent_dataset) = "fashion";
  /// Images of it the parent is pretrained on (0 = all).
  TORCH_ARG(std::int64_t, parent_images) = 20000;
  /// Pretraining epochs of the parent.
  TORCH_ARG(std::int64_t, parent_epochs) = 3;
  /// The parent's (and so the copy's) architecture; empty = the victim's.
  TORCH_ARG(std::string, surrogate) = "";
  /// Images of the thief's data sent to the victim (0 = all).
  TORCH_ARG(std::int64_t, budget) = 0;
  /// Train on the victim's class probabilities instead of its labels.
  TORCH_ARG(bool, soft_labels) = false;
  /// Epochs in which the new output layer is trained alone, the body's weights frozen
  /// (batch-norm running statistics still follow the thief's data, as in the toolbox).
  TORCH_ARG(std::int64_t, frozen_epochs) = 1;
  /// Epochs of training the whole network afterwards.
  TORCH_ARG(std::int64_t, epochs) = 5;
  /// "sgd" (momentum 0.9) or "adam", every phase.
  TORCH_ARG(std::string, optimizer) = "adam";
  /// Learning rate (constant), every phase.
  TORCH_ARG(double, lr) = 0.001;
  /// Random crops and flips of the images trained on (CIFAR-style data).
  TORCH_ARG(bool, augment) = false;
};

/// Transfers a network the thief pretrained on another task to the victim's labels.
class WMARK_API TransferLearningAttack : public Attack {
 public:
  /// Checks the options; throws wmark::Error for bad numbers or an unknown dataset.
  explicit TransferLearningAttack(TransferLearningOptions options = {});
  /// The declared options: names, defaults, ranges and help (JSON, flags, reports).
  static const OptionBinding<TransferLearningOptions>& declared_options();
  /// "transfer-learning".
  std::string name() const override { return "transfer-learning"; }
  /// The options as JSON.
  nlohmann::json options() const override;
  /// True: only the victim's answers are used.
  bool queries_victim() const override { return true; }
  /// Loads the parent dataset as knockoff loads its queries; it must have the victim's
  /// class count (the parent is built with the victim's output shape). Details:
  /// "surrogate", "queries", "soft_labels", "agreement" (with the victim's labels on the
  /// queries), "parent_dataset", "parent_images", "parent_train_accuracy" (the parent's
  /// last pretraining epoch, on its own task), "output_layer" (the layer replaced).
  AttackResult run(Network& victim, const AttackContext& context) const override;

 private:
  TransferLearningOptions options_;
};

}  // namespace wmark
