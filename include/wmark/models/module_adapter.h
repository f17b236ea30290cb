/// \file
/// Any LibTorch model as a wmark Network, so that a user's own module goes wherever
/// the library takes a model (Trainer, embedders, ModuleClassifier, attacks).
///
/// The adapters own nothing new: parameters and buffers stay the user's tensors, so
/// training through the adapter trains the user's module in place, and `train()`,
/// `eval()` and `to()` reach the wrapped module.
#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <type_traits>

#include <torch/nn/module.h>
#include <torch/nn/modules/container/any.h>
#include <torch/nn/pimpl.h>

#include "wmark/models/network.h"
#include "wmark/util/export.h"

namespace torch::jit {
struct Module;
}

namespace wmark {

/// A forward function: normalised float [N,C,H,W] in, logits [N,classes] out.
using ForwardFn = std::function<at::Tensor(const at::Tensor&)>;

/// A Network around a torch::nn::Module and the function that runs it.
class WMARK_API ModuleAdapter : public Network {
 public:
  /// Wraps `module`, registered as the submodule "module"; `forward` must run it.
  /// Requires both non-null; throws wmark::Error otherwise.
  ModuleAdapter(std::shared_ptr<torch::nn::Module> module, ForwardFn forward);
  /// Runs the wrapped forward function.
  torch::Tensor forward(torch::Tensor x) override;
  /// The wrapped module.
  torch::nn::Module& wrapped() { return *module_; }

 private:
  std::shared_ptr<torch::nn::Module> module_;
  ForwardFn forward_;
};

/// A Network around a TorchScript module (torch::jit::load, or one exported from
/// Python). Its parameters and buffers are registered under their dotted names with
/// '.' replaced by '_' (checkpoints use those names), all trainable; training updates
/// the script module's own tensors. Every direct submodule that forward() calls once
/// ("fc1", "features") is a tapped layer: while one is captured, forward() runs a copy
/// of the forward graph that also returns that call's output.
class WMARK_API ScriptNetwork : public Network {
 public:
  /// Wraps `module` (copied by handle: the same underlying object).
  explicit ScriptNetwork(const torch::jit::Module& module);
  ~ScriptNetwork() override;
  /// Calls the script module's forward; throws wmark::Error if it returns no tensor.
  torch::Tensor forward(torch::Tensor x) override;
  /// The direct submodules forward() calls exactly once, in graph order.
  std::vector<std::string> tapped_layers() const override;
  /// Switches this wrapper and the script module between training and evaluation.
  void train(bool on = true) override;
  /// The wrapped script module.
  torch::jit::Module& script();

 private:
  struct TappedGraphs;
  std::unique_ptr<torch::jit::Module> module_;
  std::vector<std::string> tapped_;
  std::unique_ptr<TappedGraphs> graphs_;
};

/// A TorchScript file (torch.jit.save in Python, or torch::jit::save) loaded onto
/// `device` as a ScriptNetwork. Throws wmark::Error naming the file if it is missing or
/// not TorchScript.
WMARK_API NetworkPtr load_script_network(const std::filesystem::path& path, c10::Device device);
/// `module` with `forward` as a Network.
WMARK_API NetworkPtr as_network(std::shared_ptr<torch::nn::Module> module, ForwardFn forward);
/// A type-erased module (its forward must take one tensor and return one).
WMARK_API NetworkPtr as_network(torch::nn::AnyModule module);
/// A TorchScript module.
WMARK_API NetworkPtr as_network(const torch::jit::Module& module);

/// Any module type with `Tensor forward(Tensor)`: a Network is returned as it is,
/// anything else is wrapped.
template <class M>
NetworkPtr as_network(std::shared_ptr<M> module) {
  static_assert(std::is_base_of_v<torch::nn::Module, M>, "as_network needs a torch::nn::Module");
  if constexpr (std::is_base_of_v<Network, M>) {
    return module;
  } else {
    auto* raw = module.get();
    return as_network(std::static_pointer_cast<torch::nn::Module>(module),
                      [raw](const at::Tensor& x) { return raw->forward(x); });
  }
}

/// A module holder such as `torch::nn::Sequential` or a TORCH_MODULE(Name) type.
template <class M>
NetworkPtr as_network(const torch::nn::ModuleHolder<M>& holder) {
  return as_network(holder.ptr());
}

}  // namespace wmark
