#include "wmark/models/redundant_units.h"

#include <torch/torch.h>

#include <vector>

#include "wmark/util/error.h"

namespace wmark {

RedundantUnits remove_redundant_units(Network& model, const HiddenUnitLayer& layer, double tolerance) {
  torch::NoGradGuard no_grad;
  const auto effective = effective_incoming_weights(model, layer).to(torch::kDouble);
  const auto norms = effective.norm(2, 1);
  const auto directions = effective / norms.clamp_min(1e-300).unsqueeze(1);
  const auto cosine = directions.mm(directions.t());
  auto t = unit_tensors(model, layer);
  auto columns = t.consumer.to(torch::kDouble).clone();  // [out, units, block]
  RedundantUnits result;

  // Fold: the strongest unfolded unit takes in every unfolded unit proportional to it.
  const auto by_norm = std::get<1>(norms.sort(0, /*descending=*/true));
  const double largest = norms.max().item<double>();
  std::vector<bool> folded(layer.units, false);
  for (std::int64_t k = 0; k < layer.units; ++k) {
    const auto r = by_norm[k].item<std::int64_t>();
    if (folded[r] || norms[r].item<double>() <= 1e-12 * largest) continue;
    const auto near = (cosine[r] > 1.0 - tolerance).nonzero().squeeze(1);
    for (std::int64_t n = 0; n < near.numel(); ++n) {
      const auto j = near[n].item<std::int64_t>();
      if (j == r || folded[j]) continue;
      columns.select(1, r).add_(columns.select(1, j) * (norms[j] / norms[r]));
      columns.select(1, j).zero_();
      folded[j] = true;
      ++result.folded;
    }
  }

  // Drop: folded units, units read by nobody, units computing nothing.
  const auto reach = columns.pow(2).sum(std::vector<std::int64_t>{0, 2}).sqrt();
  const auto live = reach.masked_select(reach > 0);
  const double typical = live.numel() ? live.median().item<double>() : 0.0;
  std::vector<std::int64_t> keep;
  for (std::int64_t u = 0; u < layer.units; ++u) {
    const bool silent = reach[u].item<double>() <= tolerance * typical;
    const bool constant_zero = norms[u].item<double>() <= 1e-12 * largest;
    if (!folded[u] && !silent && !constant_zero) keep.push_back(u);
  }
  if (keep.empty()) keep.push_back(by_norm[0].item<std::int64_t>());
  result.dropped = layer.units - static_cast<std::int64_t>(keep.size()) - result.folded;
  if (result.folded == 0 && result.dropped == 0) return result;
  t.consumer.copy_(columns.to(t.consumer.dtype()));
  select_units(model, layer, torch::tensor(keep, torch::kLong));
  return result;
}

std::vector<RedundantUnits> remove_redundant_units(Network& model, double tolerance) {
  std::size_t count = 0;
  try {
    count = hidden_unit_layers(model).size();
  } catch (const Error&) {
    return {};
  }
  std::vector<RedundantUnits> removed(count);
  // Each round frees at least the layer before the last one that changed: at most one
  // round per layer, and one to see that nothing changes.
  for (std::size_t round = 0; round <= count; ++round) {
    bool changed = false;
    for (std::size_t i = count; i-- > 0;) {
      const auto r = remove_redundant_units(model, hidden_unit_layers(model)[i], tolerance);
      removed[i].folded += r.folded;
      removed[i].dropped += r.dropped;
      changed = changed || r.folded + r.dropped > 0;
    }
    if (!changed) break;
  }
  return removed;
}

}  // namespace wmark
