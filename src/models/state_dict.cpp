#include "wmark/models/state_dict.h"

#include <torch/serialize.h>
#include <torch/torch.h>

#include <map>
#include <string>
#include <vector>

#include "wmark/util/error.h"
#include "wmark/util/files.h"

namespace wmark {
namespace {

// Parameters and buffers by module path, as Module::state_dict() in Python lists them.
std::map<std::string, torch::Tensor> entries(torch::nn::Module& model) {
  std::map<std::string, torch::Tensor> out;
  for (const auto& p : model.named_parameters(true)) out[p.key()] = p.value();
  for (const auto& b : model.named_buffers(true)) out[b.key()] = b.value();
  return out;
}

}  // namespace

void save_state_dict(torch::nn::Module& model, const std::filesystem::path& path, bool force) {
  check_writable(path, force);
  c10::Dict<std::string, torch::Tensor> dict;
  for (const auto& [name, tensor] : entries(model)) dict.insert(name, tensor.detach().cpu().contiguous());
  const auto bytes = torch::pickle_save(c10::IValue(dict));
  write_file_atomic(path, std::string(bytes.begin(), bytes.end()), force);
}

}  // namespace wmark
