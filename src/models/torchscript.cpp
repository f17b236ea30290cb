#include "wmark/models/torchscript.h"

#include <torch/csrc/jit/frontend/tracer.h>
#include <torch/script.h>
#include <torch/torch.h>

#include <sstream>

#include "wmark/util/error.h"
#include "wmark/util/files.h"

namespace wmark {
namespace {

// A TorchScript module tree mirroring `module`'s, holding the same tensors (so the
// tracer records reads of them as attribute accesses, not as constants).
torch::jit::Module mirror(torch::nn::Module& module, const std::string& type_name) {
  torch::jit::Module script(type_name);
  script.register_attribute("training", c10::BoolType::get(), false);
  for (const auto& p : module.named_parameters(/*recurse=*/false)) script.register_parameter(p.key(), p.value(), false);
  for (const auto& b : module.named_buffers(/*recurse=*/false)) script.register_buffer(b.key(), b.value());
  for (const auto& child : module.named_children()) {
    script.register_module(child.key(), mirror(*child.value(), type_name + "_" + child.key()));
  }
  return script;
}

}  // namespace

void save_torchscript(Network& model, const ImageShape& input, const std::filesystem::path& path, bool force) {
  check_writable(path, force);
  const bool was_training = model.is_training();
  model.eval();
  auto script = mirror(model, "WmarkExport");
  const auto params = model.parameters();
  const auto device = params.empty() ? torch::Device(torch::kCPU) : params.front().device();
  auto example = torch::zeros({2, input.channels, input.height, input.width}, torch::TensorOptions().device(device));
  try {
    auto traced = torch::jit::tracer::trace(
        {example},
        [&](torch::jit::Stack inputs) -> torch::jit::Stack { return {model.forward(inputs.at(0).toTensor())}; },
        [](const at::Tensor&) { return std::string(); }, /*strict=*/false, /*force_outplace=*/false, &script);
    auto* forward = script._ivalue()->compilation_unit()->create_function(
        c10::QualifiedName(*script.type()->name(), "forward"), traced.first->graph);
    script.type()->addMethod(forward);
  } catch (const c10::Error& error) {
    model.train(was_training);
    const std::string message = error.what_without_backtrace();
    WMARK_FAIL("the model cannot be exported to TorchScript: ", message.substr(0, message.find('\n')));
  }
  model.train(was_training);
  std::ostringstream bytes;
  script.save(bytes);
  write_file_atomic(path, bytes.str(), force);
}

}  // namespace wmark
