#include "wmark/models/module_adapter.h"

#include <torch/csrc/jit/api/function_impl.h>
#include <torch/csrc/jit/ir/ir.h>
#include <torch/script.h>
#include <torch/torch.h>

#include <algorithm>
#include <map>

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

// The forward graph's calls of direct submodules ("self.fc1.forward(x)"): name and
// output value, in graph order.
std::vector<std::pair<std::string, torch::jit::Value*>> submodule_calls(torch::jit::Graph& graph) {
  std::vector<std::pair<std::string, torch::jit::Value*>> calls;
  auto* self = graph.inputs().at(0);
  for (auto* node : graph.nodes()) {
    if (node->kind() != c10::prim::CallMethod || node->s(c10::attr::name) != "forward") continue;
    auto* target = node->inputs().at(0)->node();
    if (target->kind() != c10::prim::GetAttr || target->input() != self) continue;
    calls.emplace_back(target->s(c10::attr::name), node->output());
  }
  return calls;
}

}  // namespace

// Copies of the forward graph that also return captured layers' outputs, one per set
// of captured layers (built on first use).
struct ScriptNetwork::TappedGraphs {
  std::map<std::vector<std::string>, std::unique_ptr<torch::jit::GraphFunction>> functions;
};

ScriptNetwork::ScriptNetwork(const torch::jit::Module& module)
    : module_(std::make_unique<torch::jit::Module>(module)), graphs_(std::make_unique<TappedGraphs>()) {
  // The same tensors, not copies: the optimiser and to() update the script module too.
  for (const auto& p : module_->named_parameters(/*recurse=*/true)) {
    // Trainable, as nn::Module parameters are by default (script files rarely keep the flag).
    register_parameter(flat_name(p.name), p.value, /*requires_grad=*/true);
  }
  for (const auto& b : module_->named_buffers(/*recurse=*/true)) register_buffer(flat_name(b.name), b.value);
  Network::train(module_->is_training());
  if (const auto forward = module_->find_method("forward")) {
    std::map<std::string, int> count;
    const auto calls = submodule_calls(*forward->graph());
    for (const auto& call : calls) ++count[call.first];
    for (const auto& call : calls) {
      if (count[call.first] == 1) tapped_.push_back(call.first);  // a layer called twice has no one output
    }
  }
}

std::vector<std::string> ScriptNetwork::tapped_layers() const { return tapped_; }

ScriptNetwork::~ScriptNetwork() = default;

torch::Tensor ScriptNetwork::forward(torch::Tensor x) {
  if (capturing()) {
    const auto layers = captured_layers();
    auto& function = graphs_->functions[layers];
    if (!function) {
      auto graph = module_->get_method("forward").graph()->copy();
      std::vector<torch::jit::Value*> outputs{graph->outputs().at(0)};
      const auto calls = submodule_calls(*graph);
      for (const auto& layer : layers) {
        const auto call = std::find_if(calls.begin(), calls.end(), [&](const auto& c) { return c.first == layer; });
        outputs.push_back(call->second);  // capture() admitted only tapped layers
      }
      auto* tuple = graph->appendNode(graph->createTuple(outputs));
      graph->eraseOutput(0);
      graph->registerOutput(tuple->output());
      function = std::make_unique<torch::jit::GraphFunction>("wmark_tapped_forward", graph, nullptr);
    }
    torch::jit::Stack stack{module_->_ivalue(), x};
    function->run(stack);
    const auto elements = stack.back().toTupleRef().elements();
    for (std::size_t i = 0; i < layers.size(); ++i) {
      WMARK_CHECK(elements[i + 1].isTensor(), "layer '", layers[i], "' of the TorchScript module returns ",
                  elements[i + 1].tagKind(), ", not a tensor");
      tap(layers[i], elements[i + 1].toTensor());
    }
    WMARK_CHECK(elements[0].isTensor(), "the TorchScript module's forward returned ", elements[0].tagKind(),
                "; wmark needs one logits tensor");
    return elements[0].toTensor();
  }
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

NetworkPtr load_script_network(const std::filesystem::path& path, c10::Device device) {
  WMARK_CHECK(std::filesystem::is_regular_file(path), "model file ", path.string(), " does not exist");
  try {
    return as_network(torch::jit::load(path.string(), device));
  } catch (const c10::Error& error) {
    const std::string message = error.what_without_backtrace();
    WMARK_FAIL(path.string(), " is not a TorchScript model: ", message.substr(0, message.find('\n')));
  }
}

NetworkPtr as_network(const torch::jit::Module& module) { return std::make_shared<ScriptNetwork>(module); }

}  // namespace wmark
