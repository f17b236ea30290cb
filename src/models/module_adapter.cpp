#include "wmark/models/module_adapter.h"

#include <torch/script.h>
#include <torch/torch.h>

#include <algorithm>

#include "wmark/util/error.h"

namespace wmark {

ModuleAdapter::ModuleAdapter(std::shared_ptr<torch::nn::Module> module, ForwardFn forward)
    : module_(std::move(module)), forward_(std::move(forward)) {
  WMARK_CHECK(module_, "as_network: the module is null");
  WMARK_CHECK(forward_, "as_network: the forward function is empty");
  register_module("module", module_);
}

torch::Tensor ModuleAdapter::forward(torch::Tensor x) { return forward_(x); }

NetworkPtr as_network(std::shared_ptr<torch::nn::Module> module, ForwardFn forward) {
  return std::make_shared<ModuleAdapter>(std::move(module), std::move(forward));
}

NetworkPtr as_network(torch::nn::AnyModule module) {
  WMARK_CHECK(!module.is_empty(), "as_network: the AnyModule is empty");
  auto shared = std::make_shared<torch::nn::AnyModule>(std::move(module));
  return as_network(shared->ptr(), [shared](const at::Tensor& x) { return shared->forward(x); });
}

namespace {

// Module::register_parameter refuses dotted names.
std::string flat_name(std::string name) {
  std::replace(name.begin(), name.end(), '.', '_');
  return name;
}

}  // namespace

ScriptNetwork::ScriptNetwork(const torch::jit::Module& module)
    : module_(std::make_unique<torch::jit::Module>(module)) {
  // The same tensors, not copies: the optimiser and to() update the script module too.
  for (const auto& p : module_->named_parameters(/*recurse=*/true)) {
    // Trainable, as nn::Module parameters are by default (script files rarely keep the flag).
    register_parameter(flat_name(p.name), p.value, /*requires_grad=*/true);
  }
  for (const auto& b : module_->named_buffers(/*recurse=*/true)) register_buffer(flat_name(b.name), b.value);
  Network::train(module_->is_training());
}

ScriptNetwork::~ScriptNetwork() = default;

torch::Tensor ScriptNetwork::forward(torch::Tensor x) {
  auto output = module_->forward({x});
  WMARK_CHECK(output.isTensor(), "the TorchScript module's forward returned ", output.tagKind(),
              "; wmark needs one logits tensor");
  return output.toTensor();
}

void ScriptNetwork::train(bool on) {
  Network::train(on);
  module_->train(on);
}

torch::jit::Module& ScriptNetwork::script() { return *module_; }

NetworkPtr as_network(const torch::jit::Module& module) { return std::make_shared<ScriptNetwork>(module); }

}  // namespace wmark
