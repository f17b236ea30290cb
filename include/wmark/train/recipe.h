/// \file
/// Sensible defaults per dataset: the architecture and the training options that the
/// CLI starts from, so the library and the CLI agree.
#pragma once

#include <string>

#include "wmark/train/options.h"
#include "wmark/util/export.h"

namespace wmark {

/// A default architecture and training setup.
struct TrainRecipe {
  std::string arch;        ///< architecture name in the model registry
  TrainerOptions options;  ///< training options to start from
};

/// mnist/fashion: mnist_cnn, Adam 0.002, batch 64, 2 epochs.
/// cifar10: cifar_cnn, SGD 0.05 with momentum, weight decay 5e-4, cosine schedule,
/// crop+flip augmentation, batch 128, 30 epochs.
/// Throws wmark::Error for an unknown dataset name.
WMARK_API TrainRecipe default_recipe(const std::string& dataset);

/// The recipe for embedding a watermark into a trained model by fine-tuning: a tenth of
/// `recipe`'s learning rate, 5 epochs, no schedule (the marked model stays close to the
/// trained one; trigger-set embedding also stops once every trigger is learnt).
WMARK_API TrainerOptions fine_tuning_recipe(const TrainerOptions& recipe);

}  // namespace wmark
