#include "wmark/models/parameters.h"

#include <torch/torch.h>

#include <algorithm>

namespace wmark {

std::vector<std::string> weight_names(Network& model, std::initializer_list<std::int64_t> dims) {
  static const std::string suffix = "weight";
  std::vector<std::string> names;
  for (const auto& item : model.named_parameters()) {
    const auto& name = item.key();
    const bool is_weight =
        name.size() >= suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
    if (is_weight && std::find(dims.begin(), dims.end(), item.value().dim()) != dims.end()) names.push_back(name);
  }
  return names;
}

}  // namespace wmark
