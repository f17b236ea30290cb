/// \file
/// The model type the library trains and verifies: a torch::nn::Module with one
/// image-batch-in, logits-out forward.
#pragma once

#include <cstdint>
#include <memory>

#include <torch/nn/module.h>

#include "wmark/data/dataset.h"

namespace wmark {

/// What an architecture is built for: the input image shape and the class count.
struct ModelSpec {
  ImageShape input;
  std::int64_t num_classes = 0;
};

/// A classifier network: normalised float [N,C,H,W] in, logits [N,num_classes] out.
class Network : public torch::nn::Module {
 public:
  /// Logits for a normalised batch.
  virtual torch::Tensor forward(torch::Tensor x) = 0;
};

using NetworkPtr = std::shared_ptr<Network>;

/// Stores the module's 4-D parameters and buffers channels-last (NHWC). On CPU,
/// LibTorch's NHWC convolution and pooling kernels are much faster than NCHW ones
/// (measured: a 2x2 max-pool 14x, a whole mnist_cnn step 1.3x).
void to_channels_last(torch::nn::Module& module);

}  // namespace wmark
