/// \file
/// The model type the library trains and verifies: a torch::nn::Module with one
/// image-batch-in, logits-out forward.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include <torch/nn/module.h>

#include "wmark/data/dataset.h"
#include "wmark/util/export.h"

namespace wmark {

/// What an architecture is built for: the input image shape and the class count.
struct ModelSpec {
  ImageShape input;              ///< one image, [C,H,W]
  std::int64_t num_classes = 0;  ///< length of the logits vector
};

/// A classifier network: normalised float [N,C,H,W] in, logits [N,num_classes] out.
class WMARK_API Network : public torch::nn::Module {
 public:
  /// Logits for a normalised batch.
  virtual torch::Tensor forward(torch::Tensor x) = 0;
};

/// Shared ownership of a Network (models are shared between trainer, hooks and classifiers).
using NetworkPtr = std::shared_ptr<Network>;

/// Checks that `model` turns a batch of spec.input images into [N, spec.num_classes]
/// logits, by running two zero images through it (eval mode, no gradients; the
/// training mode is restored). Throws wmark::Error naming `what` and both shapes if not.
WMARK_API void check_model(Network& model, const ModelSpec& spec, const std::string& what = "model");

/// Stores the module's 4-D parameters and buffers channels-last (NHWC). On CPU,
/// LibTorch's NHWC convolution and pooling kernels are much faster than NCHW ones
/// (measured: a 2x2 max-pool 14x, a whole mnist_cnn step 1.3x).
WMARK_API void to_channels_last(torch::nn::Module& module);

}  // namespace wmark
