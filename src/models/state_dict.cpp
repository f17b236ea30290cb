#include "wmark/models/state_dict.h"

#include <torch/serialize.h>
#include <torch/torch.h>

#include <map>
#include <sstream>
#include <string>

#include "torch_save_reader.h"
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

std::map<std::string, torch::Tensor> read_state_dict(const std::filesystem::path& path) {
  return read_torch_save_dict(read_file(path), path.string());
}

void save_state_dict(torch::nn::Module& model, const std::filesystem::path& path, bool force) {
  check_writable(path, force);
  c10::Dict<std::string, torch::Tensor> dict;
  for (const auto& [name, tensor] : entries(model)) dict.insert(name, tensor.detach().cpu().contiguous());
  const auto bytes = torch::pickle_save(c10::IValue(dict));
  write_file_atomic(path, std::string(bytes.begin(), bytes.end()), force);
}

void load_state_dict(torch::nn::Module& model, const std::filesystem::path& path) {
  const auto loaded = read_state_dict(path);
  auto target = entries(model);
  std::string missing, unexpected, shapes;
  auto add = [](std::string& list, const std::string& item) { list += (list.empty() ? "" : ", ") + item; };
  for (const auto& [name, tensor] : target) {
    const auto it = loaded.find(name);
    if (it == loaded.end()) {
      add(missing, name);
    } else if (it->second.sizes() != tensor.sizes()) {
      std::ostringstream os;
      os << name << " is " << it->second.sizes() << " in the file, " << tensor.sizes() << " in the model";
      add(shapes, os.str());
    }
  }
  for (const auto& entry : loaded) {
    if (!target.count(entry.first)) add(unexpected, entry.first);
  }
  WMARK_CHECK(missing.empty() && unexpected.empty() && shapes.empty(), path.string(),
              " does not match the model's architecture:", missing.empty() ? "" : " missing " + missing + ";",
              unexpected.empty() ? "" : " unexpected " + unexpected + ";", shapes.empty() ? "" : " " + shapes);
  torch::NoGradGuard no_grad;
  for (auto& [name, tensor] : target) tensor.copy_(loaded.at(name));
}

}  // namespace wmark
