#include "wmark/models/clone.h"

#include <torch/torch.h>

#include "wmark/models/hidden_units.h"
#include "wmark/util/error.h"

namespace wmark {
namespace {

void copy_named(const torch::OrderedDict<std::string, torch::Tensor>& from,
                torch::OrderedDict<std::string, torch::Tensor>& to, const char* kind) {
  WMARK_CHECK(from.size() == to.size(), "cannot copy weights: the source has ", from.size(), " ", kind,
              "s, the copy ", to.size(), " (another architecture?)");
  for (const auto& item : from) {
    auto* target = to.find(item.key());
    WMARK_CHECK(target, "cannot copy weights: the copy has no ", kind, " '", item.key(), "'");
    WMARK_CHECK(target->sizes() == item.value().sizes(), "cannot copy weights: ", kind, " '", item.key(),
                "' is ", item.value().sizes(), " in the source and ", target->sizes(), " in the copy");
    target->copy_(item.value());
  }
}

}  // namespace

void copy_weights(Network& from, Network& to) {
  torch::NoGradGuard no_grad;
  // The source may have been widened (dummy neurons); the copy follows its widths.
  const auto from_params = from.named_parameters();
  match_unit_widths(
      to,
      [&](const std::string& weight) -> std::optional<std::int64_t> {
        const auto* found = from_params.find(weight);
        if (!found || found->dim() < 1) return std::nullopt;
        return found->size(0);
      },
      "copying weights");
  auto to_params = to.named_parameters();
  auto to_buffers = to.named_buffers();
  copy_named(from.named_parameters(), to_params, "parameter");
  copy_named(from.named_buffers(), to_buffers, "buffer");
}

NetworkPtr clone_network(Network& source, const NetworkFactory& make) {
  WMARK_CHECK(make, "clone_network needs a model factory");
  auto copy = make();
  WMARK_CHECK(copy, "the model factory returned no model");
  const auto params = source.parameters();
  if (!params.empty()) copy->to(params.front().device());
  copy_weights(source, *copy);
  copy->train(source.is_training());
  return copy;
}

}  // namespace wmark
