/// \file
/// The built-in architectures.
#pragma once

#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>

#include "wmark/models/network.h"
#include "wmark/util/export.h"

namespace wmark {

/// A small CNN for MNIST-sized images: two 5x5 conv layers (32, 64 channels, each
/// followed by ReLU and 2x2 max-pooling) and two fully connected layers. It is the model
/// of Zhang et al.'s MNIST experiments.
class WMARK_API MnistCnn : public Network {
 public:
  /// Builds the network for `spec` with `hidden` units in the first fully connected
  /// layer. Requires at least 2 classes, channels > 0 and inputs of at least 12x12;
  /// throws wmark::Error otherwise.
  explicit MnistCnn(const ModelSpec& spec, std::int64_t hidden = 256);
  /// Logits [N,num_classes] for a normalised batch [N,C,H,W].
  torch::Tensor forward(torch::Tensor x) override;
  /// "conv1", "conv2" (after pooling and ReLU), "fc1" (after ReLU), "fc2" (the logits).
  std::vector<std::string> tapped_layers() const override;

 private:
  torch::nn::Conv2d conv1_{nullptr}, conv2_{nullptr};
  torch::nn::Linear fc1_{nullptr}, fc2_{nullptr};
};

/// A VGG-style CNN for 32x32 colour images: three blocks of two 3x3 conv + batch-norm +
/// ReLU layers (widths w, 2w, 4w) with max-pooling, then a fully connected classifier.
/// At w = 64 it reaches about 80-85% on CIFAR-10 with augmentation.
class WMARK_API CifarCnn : public Network {
 public:
  /// Builds the network for `spec` with base width `width` (w above). Requires at
  /// least 2 classes, channels > 0 and inputs of at least 8x8; throws wmark::Error
  /// otherwise.
  explicit CifarCnn(const ModelSpec& spec, std::int64_t width = 32);
  /// Logits [N,num_classes] for a normalised batch [N,C,H,W] (dropout 0.3 in training).
  torch::Tensor forward(torch::Tensor x) override;
  /// "features" (the last conv block, pooled), "fc1" (after ReLU, before dropout), "fc2".
  std::vector<std::string> tapped_layers() const override;

 private:
  torch::nn::Sequential features_{nullptr};
  torch::nn::Linear fc1_{nullptr}, fc2_{nullptr};
};

/// ResNet-18 in its CIFAR form (3x3 stem, no initial max-pool), for any input size.
class WMARK_API ResNet18 : public Network {
 public:
  /// Builds the network for `spec`. Requires at least 2 classes, channels > 0 and
  /// inputs of at least 8x8; throws wmark::Error otherwise.
  explicit ResNet18(const ModelSpec& spec);
  /// Logits [N,num_classes] for a normalised batch [N,C,H,W].
  torch::Tensor forward(torch::Tensor x) override;
  /// "stem", "layers.0" ... "layers.7" (the residual blocks), "layers", "fc".
  std::vector<std::string> tapped_layers() const override;

 private:
  torch::nn::Sequential stem_{nullptr}, layers_{nullptr};
  torch::nn::Linear fc_{nullptr};
};

}  // namespace wmark
