/// \file
/// The built-in architectures.
#pragma once

#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>

#include "wmark/models/network.h"

namespace wmark {

/// The small CNN of Zhang et al.'s MNIST experiments: two 5x5 conv layers (32, 64
/// channels, each followed by ReLU and 2x2 max-pooling) and two fully connected layers.
class MnistCnn : public Network {
 public:
  explicit MnistCnn(const ModelSpec& spec, std::int64_t hidden = 256);
  torch::Tensor forward(torch::Tensor x) override;
  /// Activations of the first fully connected layer (after ReLU), for white-box marks.
  torch::Tensor features(torch::Tensor x);

 private:
  torch::nn::Conv2d conv1_{nullptr}, conv2_{nullptr};
  torch::nn::Linear fc1_{nullptr}, fc2_{nullptr};
};

/// A VGG-style CNN for 32x32 colour images: three blocks of two 3x3 conv + batch-norm +
/// ReLU layers (widths w, 2w, 4w) with max-pooling, then a fully connected classifier.
/// At w = 64 it reaches about 80-85% on CIFAR-10 with augmentation.
class CifarCnn : public Network {
 public:
  explicit CifarCnn(const ModelSpec& spec, std::int64_t width = 32);
  torch::Tensor forward(torch::Tensor x) override;

 private:
  torch::nn::Sequential features_{nullptr};
  torch::nn::Linear fc1_{nullptr}, fc2_{nullptr};
};

/// ResNet-18 in its CIFAR form (3x3 stem, no initial max-pool), for any input size.
class ResNet18 : public Network {
 public:
  explicit ResNet18(const ModelSpec& spec);
  torch::Tensor forward(torch::Tensor x) override;

 private:
  torch::nn::Sequential stem_{nullptr}, layers_{nullptr};
  torch::nn::Linear fc_{nullptr};
};

}  // namespace wmark
