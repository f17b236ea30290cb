#include "wmark/verify/classifier.h"

#include <torch/script.h>
#include <torch/torch.h>

#include "wmark/train/evaluate.h"
#include "wmark/util/error.h"

namespace fs = std::filesystem;

namespace wmark {
namespace {

void check_images(const at::Tensor& images) {
  WMARK_CHECK(images.dim() == 4 && images.scalar_type() == torch::kUInt8,
              "classify expects uint8 images [N,C,H,W], got ", images.scalar_type(), " ", images.sizes());
}

}  // namespace

ModuleClassifier::ModuleClassifier(NetworkPtr model, Normalization normalization, std::string description,
                                   c10::Device device, std::int64_t batch_size)
    : model_(std::move(model)), normalization_(std::move(normalization)),
      description_(std::move(description)), device_(device), batch_size_(batch_size) {
  WMARK_CHECK(model_, "ModuleClassifier needs a model");
}

at::Tensor ModuleClassifier::classify(const at::Tensor& images) { return answer(images).labels; }

SuspectAnswers ModuleClassifier::answer(const at::Tensor& images) {
  check_images(images);
  queries_ += images.size(0);
  try {
    if (images.size(0) == 0) return {torch::empty({0}, torch::kLong), at::Tensor()};
    auto logits = predict_logits(*model_, images, normalization_, device_, batch_size_);
    auto labels = logits.argmax(1);
    return {std::move(labels), std::move(logits)};
  } catch (const c10::Error& error) {
    WMARK_FAIL(description_, " rejected input of shape ", images.sizes(),
               " (does the model match the key's input shape?): ", detail::first_line(error.what_without_backtrace()));
  }
}

TorchScriptClassifier::TorchScriptClassifier(const fs::path& path, Normalization normalization, c10::Device device,
                                             std::int64_t batch_size)
    : path_(path), normalization_(std::move(normalization)), device_(device), batch_size_(batch_size) {
  WMARK_CHECK(fs::is_regular_file(path), "model file ", path.string(), " does not exist");
  try {
    module_ = std::make_unique<torch::jit::Module>(torch::jit::load(path.string(), device));
  } catch (const c10::Error& error) {
    WMARK_FAIL(path.string(), " is not a TorchScript model: ", detail::first_line(error.what_without_backtrace()),
               " (for a wmark checkpoint, pass --arch)");
  }
  module_->eval();
}

TorchScriptClassifier::~TorchScriptClassifier() = default;

std::string TorchScriptClassifier::describe() const { return "TorchScript " + path_.string(); }

at::Tensor TorchScriptClassifier::classify(const at::Tensor& images) { return logits(images).argmax(1); }

SuspectAnswers TorchScriptClassifier::answer(const at::Tensor& images) {
  auto scores = logits(images);
  auto labels = scores.argmax(1);
  return {std::move(labels), std::move(scores)};
}

at::Tensor TorchScriptClassifier::logits(const at::Tensor& images) {
  check_images(images);
  queries_ += images.size(0);
  torch::NoGradGuard no_grad;
  const auto n = images.size(0);
  std::vector<at::Tensor> parts;
  std::int64_t classes = -1;
  for (std::int64_t start = 0; start < n; start += batch_size_) {
    const auto len = std::min(batch_size_, n - start);
    auto x = normalization_.apply(images.narrow(0, start, len)).to(device_);
    c10::IValue output;
    try {
      output = module_->forward({x});
    } catch (const std::exception& error) {
      WMARK_FAIL(describe(), " rejected input of shape ", x.sizes(),
                 " (does the model match the key's input shape?): ", detail::first_line(error.what()));
    }
    WMARK_CHECK(output.isTensor(), describe(), ": forward must return a logits tensor");
    auto batch_logits = output.toTensor();
    WMARK_CHECK(batch_logits.dim() == 2 && batch_logits.size(0) == len && batch_logits.size(1) >= 1 &&
                    (classes < 0 || batch_logits.size(1) == classes),
                describe(), " returned ", batch_logits.sizes(), " for a batch of ", len, "; expected [N, classes] logits");
    classes = batch_logits.size(1);
    parts.push_back(batch_logits.detach().to(torch::kCPU, torch::kFloat));
  }
  return parts.empty() ? torch::empty({0, 1}, torch::kFloat) : torch::cat(parts);
}

}  // namespace wmark
