#include "wmark/models/rebuild.h"

#include <torch/torch.h>

#include <algorithm>
#include <map>
#include <optional>

#include "wmark/models/hidden_units.h"
#include "wmark/models/registry.h"
#include "wmark/util/error.h"

namespace wmark {
namespace {

// TorchScript modules are seen with '_' where a registry model has '.'.
std::string flat(std::string name) {
  std::replace(name.begin(), name.end(), '.', '_');
  return name;
}

// `source`'s tensors under the names `target` gives them: by name ('.' and '_' alike) when
// every name is found, else by position when the counts match (a thief may rename the
// tensors of a file, and seldom reorders them); the function check decides either way.
std::map<std::string, at::Tensor> under_target_names(const torch::OrderedDict<std::string, at::Tensor>& source,
                                                     const torch::OrderedDict<std::string, at::Tensor>& target) {
  std::map<std::string, at::Tensor> flat_source;
  for (const auto& item : source) flat_source.emplace(flat(item.key()), item.value());
  std::map<std::string, at::Tensor> out;
  for (const auto& item : target) {
    const auto found = flat_source.find(flat(item.key()));
    if (found == flat_source.end()) break;
    out.emplace(item.key(), found->second);
  }
  if (out.size() == target.size() || source.size() != target.size()) return out;
  out.clear();
  for (std::size_t i = 0; i < target.size(); ++i) out.emplace(target[i].key(), source[i].value());
  return out;
}

// Copies `from` (under `to`'s names) into `to`; the reason it cannot, or "".
std::string copy_tensors(const std::map<std::string, at::Tensor>& from, std::size_t from_count,
                         torch::OrderedDict<std::string, at::Tensor> to, const std::string& arch, const char* kind) {
  if (from_count != to.size())
    return "it holds " + std::to_string(from_count) + " " + kind + "s, " + arch + " " + std::to_string(to.size());
  for (auto& item : to) {
    const auto found = from.find(item.key());
    if (found == from.end()) return std::string("it has no ") + kind + " " + item.key() + " of " + arch;
    if (found->second.sizes() != item.value().sizes())
      return std::string(kind) + " " + item.key() + " has another shape than in " + arch;
    item.value().copy_(found->second);
  }
  return "";
}

}  // namespace

RebuiltNetwork rebuild_as(Network& source, const std::string& arch, const ModelSpec& spec, const at::Tensor& probes) {
  RebuiltNetwork out;
  if (!model_registry().contains(arch)) {
    out.reason = "architecture '" + arch + "' is not registered";
    return out;
  }
  torch::NoGradGuard no_grad;
  const auto source_params = source.named_parameters();
  const auto source_buffers = source.named_buffers();
  NetworkPtr model;
  std::map<std::string, at::Tensor> params, buffers;
  try {
    model = model_registry().create(arch, spec);
    // Names are settled at the architecture's own widths, where positions still match.
    params = under_target_names(source_params, model->named_parameters());
    buffers = under_target_names(source_buffers, model->named_buffers());
    // A thief's dummy neurons widen layers: the rebuilt model takes the source's widths.
    match_unit_widths(
        *model,
        [&](const std::string& weight) -> std::optional<std::int64_t> {
          const auto found = params.find(weight);
          if (found == params.end() || found->second.dim() < 1) return std::nullopt;
          return found->second.size(0);
        },
        "rebuilding " + arch);
  } catch (const Error& e) {
    out.reason = e.what();
    return out;
  }
  if (!params.empty()) model->to(params.begin()->second.device());
  out.reason = copy_tensors(params, source_params.size(), model->named_parameters(), arch, "parameter");
  if (out.reason.empty())
    out.reason = copy_tensors(buffers, source_buffers.size(), model->named_buffers(), arch, "buffer");
  if (!out.reason.empty()) return out;

  // The same tensors could be wired otherwise: the rebuilt model must compute the same.
  const bool was_training = source.is_training();
  source.eval();
  model->eval();
  at::Tensor expected, rebuilt;
  try {
    const auto x = probes.to(params.empty() ? probes.device() : params.begin()->second.device());
    expected = source.forward(x);
    rebuilt = model->forward(x);
  } catch (const std::exception& e) {
    source.train(was_training);
    out.reason = std::string("its forward failed on the probes: ") + detail::first_line(e.what());
    return out;
  }
  source.train(was_training);
  if (expected.sizes() != rebuilt.sizes()) {
    out.reason = "its outputs have another shape than " + arch + "'s";
    return out;
  }
  out.max_logit_difference = (expected - rebuilt).abs().max().item<double>();
  const double bound = 1e-4 * std::max(1.0, expected.abs().max().item<double>());
  if (!(out.max_logit_difference <= bound)) {
    out.reason = "it computes another function than " + arch + " with its weights (logits differ by " +
                 std::to_string(out.max_logit_difference) + " on " + std::to_string(probes.size(0)) + " probes)";
    return out;
  }
  out.model = model;
  return out;
}

}  // namespace wmark
