/// \file
/// The suspect model as the Verifier sees it: images in, predicted labels out.
///
/// Contract for a classifier: classify() takes uint8 images [N,C,H,W] (raw pixels,
/// as stored in keys) and returns int64 labels [N] on the CPU; it applies whatever
/// preprocessing the model expects itself; queries() counts the images sent so far;
/// a model that rejects the input shape raises wmark::Error naming the model and the
/// shape. answer() gives the same labels and, where the suspect gives them, the class
/// scores behind them (a scheme such as DAWN tests their order). Implementations: ModuleClassifier, TorchScriptClassifier (in-process),
/// SandboxedClassifier (TorchScript in a resource-limited worker process) and
/// RemoteClassifier (a serving endpoint).
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include "wmark/data/dataset.h"
#include "wmark/models/network.h"
#include "wmark/util/export.h"

namespace torch::jit {
struct Module;
}

namespace wmark {

/// A suspect's answers to a batch of images.
struct SuspectAnswers {
  /// Predicted labels, int64 [N] on the CPU.
  at::Tensor labels;
  /// Class scores, float [N, classes] on the CPU (logits or probabilities: only their
  /// order within a row is read); undefined when the suspect gives labels only.
  at::Tensor scores;
};

/// A suspect model that labels images (see the contract above).
class WMARK_API Classifier {
 public:
  virtual ~Classifier() = default;
  /// Predicted labels for uint8 images [N,C,H,W].
  virtual at::Tensor classify(const at::Tensor& images) = 0;
  /// Labels and, where the suspect gives them, class scores for uint8 images
  /// [N,C,H,W]; counted in queries() as classify() is. The default gives labels only.
  virtual SuspectAnswers answer(const at::Tensor& images) { return {classify(images), at::Tensor()}; }
  /// What the model is, for reports ("checkpoint model.pt (mnist_cnn)").
  virtual std::string describe() const = 0;
  /// Images classified so far.
  std::int64_t queries() const { return queries_; }

 protected:
  std::int64_t queries_ = 0;  ///< images classified so far; implementations add to it
};

/// An in-process Network with its input normalisation.
class WMARK_API ModuleClassifier : public Classifier {
 public:
  /// Classifies with `model` on `device`, normalising images with `normalization`, in
  /// batches of `batch_size`. Requires a non-null model. Any torch::nn::Module goes
  /// through as_network() (models/module_adapter.h).
  ModuleClassifier(NetworkPtr model, Normalization normalization, std::string description = "in-process model",
                   c10::Device device = c10::Device(c10::kCPU), std::int64_t batch_size = 500);
  at::Tensor classify(const at::Tensor& images) override;
  SuspectAnswers answer(const at::Tensor& images) override;
  std::string describe() const override { return description_; }

 private:
  NetworkPtr model_;
  Normalization normalization_;
  std::string description_;
  c10::Device device_;
  std::int64_t batch_size_;
};

/// A TorchScript file written by torch.jit.save or torch::jit::Module::save, such as a
/// model exported from Python; its forward takes the normalised batch. The file's code
/// runs in this process: for an untrusted file use SandboxedClassifier.
class WMARK_API TorchScriptClassifier : public Classifier {
 public:
  /// Loads `path` onto `device`. Throws wmark::Error naming the file if it is missing
  /// or not TorchScript.
  TorchScriptClassifier(const std::filesystem::path& path, Normalization normalization,
                        c10::Device device = c10::Device(c10::kCPU), std::int64_t batch_size = 500);
  ~TorchScriptClassifier() override;
  at::Tensor classify(const at::Tensor& images) override;
  SuspectAnswers answer(const at::Tensor& images) override;
  std::string describe() const override;

 private:
  at::Tensor logits(const at::Tensor& images);

  std::filesystem::path path_;
  std::unique_ptr<torch::jit::Module> module_;
  Normalization normalization_;
  c10::Device device_;
  std::int64_t batch_size_;
};

}  // namespace wmark
