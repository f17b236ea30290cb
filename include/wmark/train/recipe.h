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

}  // namespace wmark
