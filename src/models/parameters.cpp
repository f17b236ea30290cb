#include "wmark/models/parameters.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>

#include "../util/text.h"

namespace wmark {

std::vector<std::string> weight_names(Network& model, std::initializer_list<std::int64_t> dims) {
  std::vector<std::string> names;
  for (const auto& item : model.named_parameters()) {
    const auto& name = item.key();
    const bool wanted_dim = std::find(dims.begin(), dims.end(), item.value().dim()) != dims.end();
    if (ends_with(name, "weight") && wanted_dim) names.push_back(name);
  }
  return names;
}

std::optional<double> parameter_distance(Network& origin, Network& moved) {
  auto a = origin.named_parameters(), b = moved.named_parameters();
  if (a.size() != b.size()) return std::nullopt;
  torch::NoGradGuard no_grad;
  double squares = 0;
  for (const auto& item : a) {
    const auto* other = b.find(item.key());
    if (!other || other->sizes() != item.value().sizes()) return std::nullopt;
    squares += (item.value().to(torch::kDouble) - other->to(item.value().device()).to(torch::kDouble)).pow(2).sum().item<double>();
  }
  return std::sqrt(squares);
}

double parameter_norm(Network& model) {
  torch::NoGradGuard no_grad;
  double squares = 0;
  for (const auto& p : model.parameters()) squares += p.to(torch::kDouble).pow(2).sum().item<double>();
  return std::sqrt(squares);
}

}  // namespace wmark
