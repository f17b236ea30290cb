#include "wmark/models/architectures.h"

#include <torch/torch.h>

#include "wmark/util/error.h"

namespace F = torch::nn::functional;

namespace wmark {
namespace {

void check_spec(const ModelSpec& spec, const char* arch, std::int64_t min_side) {
  WMARK_CHECK(spec.num_classes >= 2, arch, " needs at least 2 classes, got ", spec.num_classes);
  WMARK_CHECK(spec.input.channels > 0, arch, " needs a positive channel count");
  WMARK_CHECK(spec.input.height >= min_side && spec.input.width >= min_side, arch,
              " needs inputs of at least ", min_side, "x", min_side, ", got ", spec.input.str());
}

// Appends 3x3 conv (no bias) + batch-norm + ReLU to `seq`.
void add_conv_bn_relu(torch::nn::Sequential& seq, std::int64_t in, std::int64_t out) {
  seq->push_back(torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, 3).padding(1).bias(false)));
  seq->push_back(torch::nn::BatchNorm2d(out));
  seq->push_back(torch::nn::ReLU(torch::nn::ReLUOptions(true)));
}

}  // namespace

MnistCnn::MnistCnn(const ModelSpec& spec, std::int64_t hidden) {
  check_spec(spec, "mnist_cnn", 12);
  conv1_ = register_module("conv1", torch::nn::Conv2d(torch::nn::Conv2dOptions(spec.input.channels, 32, 5)));
  conv2_ = register_module("conv2", torch::nn::Conv2d(torch::nn::Conv2dOptions(32, 64, 5)));
  const auto h = ((spec.input.height - 4) / 2 - 4) / 2;
  const auto w = ((spec.input.width - 4) / 2 - 4) / 2;
  fc1_ = register_module("fc1", torch::nn::Linear(64 * h * w, hidden));
  fc2_ = register_module("fc2", torch::nn::Linear(hidden, spec.num_classes));
}

torch::Tensor MnistCnn::forward(torch::Tensor x) {
  // Pool before ReLU: the same function (both are monotone), on a quarter of the values.
  x = tap("conv1", F::max_pool2d(conv1_->forward(x), F::MaxPool2dFuncOptions(2)).relu_());
  x = tap("conv2", F::max_pool2d(conv2_->forward(x), F::MaxPool2dFuncOptions(2)).relu_());
  x = tap("fc1", fc1_->forward(x.flatten(1)).relu_());
  return tap("fc2", fc2_->forward(x));
}

std::vector<std::string> MnistCnn::tapped_layers() const { return {"conv1", "conv2", "fc1", "fc2"}; }

CifarCnn::CifarCnn(const ModelSpec& spec, std::int64_t width) {
  check_spec(spec, "cifar_cnn", 8);
  torch::nn::Sequential blocks;
  std::int64_t in = spec.input.channels;
  for (std::int64_t out : {width, 2 * width, 4 * width}) {
    add_conv_bn_relu(blocks, in, out);
    add_conv_bn_relu(blocks, out, out);
    blocks->push_back(torch::nn::MaxPool2d(torch::nn::MaxPool2dOptions(2)));
    in = out;
  }
  features_ = register_module("features", blocks);
  const auto h = spec.input.height / 8, w = spec.input.width / 8;
  fc1_ = register_module("fc1", torch::nn::Linear(in * h * w, 256));
  fc2_ = register_module("fc2", torch::nn::Linear(256, spec.num_classes));
}

torch::Tensor CifarCnn::forward(torch::Tensor x) {
  x = tap("features", features_->forward(x)).flatten(1);
  x = F::dropout(tap("fc1", fc1_->forward(x).relu_()), F::DropoutFuncOptions().p(0.3).training(is_training()));
  return tap("fc2", fc2_->forward(x));
}

std::vector<std::string> CifarCnn::tapped_layers() const { return {"features", "fc1", "fc2"}; }

namespace {

class BasicBlock : public torch::nn::Module {
 public:
  BasicBlock(std::int64_t in, std::int64_t out, std::int64_t stride) {
    conv1 = register_module("conv1", torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, 3).stride(stride).padding(1).bias(false)));
    bn1 = register_module("bn1", torch::nn::BatchNorm2d(out));
    conv2 = register_module("conv2", torch::nn::Conv2d(torch::nn::Conv2dOptions(out, out, 3).padding(1).bias(false)));
    bn2 = register_module("bn2", torch::nn::BatchNorm2d(out));
    if (stride != 1 || in != out) {
      shortcut = register_module("shortcut", torch::nn::Sequential(
          torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, 1).stride(stride).bias(false)),
          torch::nn::BatchNorm2d(out)));
    }
  }
  torch::Tensor forward(torch::Tensor x) {
    auto y = (bn1->forward(conv1->forward(x))).relu_();
    y = bn2->forward(conv2->forward(y));
    return (y + (shortcut ? shortcut->forward(x) : x)).relu_();
  }
  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr};
  torch::nn::BatchNorm2d bn1{nullptr}, bn2{nullptr};
  torch::nn::Sequential shortcut{nullptr};
};

}  // namespace

ResNet18::ResNet18(const ModelSpec& spec) {
  check_spec(spec, "resnet18", 8);
  torch::nn::Sequential stem;
  add_conv_bn_relu(stem, spec.input.channels, 64);
  stem_ = register_module("stem", stem);
  torch::nn::Sequential layers;
  std::int64_t in = 64;
  for (auto [out, stride] : {std::pair<std::int64_t, std::int64_t>{64, 1}, {128, 2}, {256, 2}, {512, 2}}) {
    layers->push_back(std::make_shared<BasicBlock>(in, out, stride));
    layers->push_back(std::make_shared<BasicBlock>(out, out, 1));
    in = out;
  }
  layers_ = register_module("layers", layers);
  fc_ = register_module("fc", torch::nn::Linear(512, spec.num_classes));
}

torch::Tensor ResNet18::forward(torch::Tensor x) {
  x = tap("stem", stem_->forward(x));
  if (capturing()) {
    for (std::size_t i = 0; i < layers_->size(); ++i) x = tap("layers." + std::to_string(i), layers_[i]->as<BasicBlock>()->forward(x));
  } else {
    x = layers_->forward(x);
  }
  tap("layers", x);
  return tap("fc", fc_->forward(F::adaptive_avg_pool2d(x, F::AdaptiveAvgPool2dFuncOptions(1)).flatten(1)));
}

std::vector<std::string> ResNet18::tapped_layers() const {
  std::vector<std::string> names{"stem"};
  for (std::size_t i = 0; i < layers_->size(); ++i) names.push_back("layers." + std::to_string(i));
  names.insert(names.end(), {"layers", "fc"});
  return names;
}

}  // namespace wmark
