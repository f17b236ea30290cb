#include "wmark/attack/dummy_neurons.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>

#include "function_preserving.h"
#include "wmark/models/hidden_units.h"
#include "wmark/util/random.h"

namespace wmark {
namespace {

// Makes unit `u` compute `c` times what unit `from` computes: the same rows, bias and batch
// norm, then the factor on the norm's affine parameters (or on the rows without one).
void copy_unit_scaled(UnitTensors& t, std::int64_t u, std::int64_t from, double c) {
  for (auto& r : t.rows) r[u].copy_(r[from]);
  auto& scaled = t.norm.empty() ? t.rows : t.norm;
  for (auto& n : t.norm) n[u].copy_(n[from]);
  if (t.running_mean.defined()) {
    t.running_mean[u].copy_(t.running_mean[from]);
    t.running_var[u].copy_(t.running_var[from]);
  }
  for (auto& s : scaled) s[u].mul_(c);
}

// A positive factor, log-uniform in [1/4, 4], as a thief would hide a copy's scale.
double random_factor(at::Generator& generator) {
  return std::exp((torch::rand({1}, generator, torch::kDouble).item<double>() * 2 - 1) * std::log(4.0));
}

struct Added {
  std::int64_t zero = 0, split = 0, clique = 0;
};

Added plan(const DummyNeuronsOptions& options, std::int64_t units) {
  const auto total = std::max<std::int64_t>(1, std::llround(options.fraction() * static_cast<double>(units)));
  const auto size = options.clique_size();
  Added added;
  if (options.variant() == "zero") added.zero = total;
  if (options.variant() == "split") added.split = total;
  if (options.variant() == "clique") added.clique = total / size * size;
  if (options.variant() == "mixed") {
    added.clique = std::min(total / size * size, (total / 3 + size - 1) / size * size);
    added.split = (total - added.clique) / 2;
  }
  added.split = std::min(added.split, units);  // each unit is split at most once
  added.zero = total - added.split - added.clique;  // and what no clique or split took
  return added;
}

// Widens `layer` by `added` units, appended; the caller shuffles.
void add_dummies(Network& model, const HiddenUnitLayer& layer, const Added& added, std::int64_t clique_size,
                 at::Generator& generator) {
  const auto n = layer.units;
  resize_units(model, layer, n + added.zero + added.split + added.clique);
  auto wide = select_hidden_unit_layers(model, layer.name).front();
  torch::NoGradGuard no_grad;
  auto t = unit_tensors(model, wide);
  const auto row_scale = t.rows[0].narrow(0, 0, n).std().item<double>();
  const auto column_scale = t.consumer.narrow(1, 0, n).std().item<double>();
  auto random_unit = [&] { return torch::randint(n, {1}, generator, torch::kLong).item<std::int64_t>(); };
  auto fresh_row = [&](std::int64_t u) {
    // New incoming weights at the layer's scale, a real unit's batch norm.
    copy_unit_scaled(t, u, random_unit(), 1.0);
    for (auto& r : t.rows)
      r[u].copy_(torch::randn(r[u].sizes(), generator, torch::kDouble).to(r.dtype()) * row_scale);
  };
  std::int64_t u = n;
  for (std::int64_t k = 0; k < added.zero; ++k, ++u) fresh_row(u);
  const auto sources = torch::randperm(n, generator, torch::kLong);
  for (std::int64_t k = 0; k < added.split; ++k, ++u) {
    // Unit j becomes j + u: alpha of its output stays with j, the rest goes through u.
    const auto j = sources[k].item<std::int64_t>();
    const double c = random_factor(generator);
    const double alpha = 0.2 + 0.6 * torch::rand({1}, generator, torch::kDouble).item<double>();
    copy_unit_scaled(t, u, j, c);
    t.consumer.select(1, u).copy_(t.consumer.select(1, j) * ((1 - alpha) / c));
    t.consumer.select(1, j).mul_(alpha);
  }
  for (std::int64_t k = 0; k < added.clique; k += clique_size) {
    // Units u..u+m-1 compute c_i h for one new h; their outgoing weights sum to zero.
    fresh_row(u);
    auto sum = torch::zeros_like(t.consumer.select(1, u), torch::kDouble);
    for (std::int64_t i = 0; i < clique_size; ++i) {
      const double c = random_factor(generator);
      if (i > 0) copy_unit_scaled(t, u + i, u, c);
      auto column = i + 1 < clique_size
                        ? torch::randn(sum.sizes(), generator, torch::kDouble) * column_scale
                        : -sum / (i > 0 ? c : 1.0);
      if (i + 1 < clique_size) sum += column * (i > 0 ? c : 1.0);
      t.consumer.select(1, u + i).copy_(column);
    }
    u += clique_size;
  }
}

}  // namespace

const OptionBinding<DummyNeuronsOptions>& DummyNeuronsAttack::declared_options() {
  static const auto binding = [] {
    OptionBinding<DummyNeuronsOptions> b("the dummy-neurons attack");
    b.describe("Add hidden units that change nothing (zero, split, clique) and shuffle: the same function, other widths")
        .text(WMARK_OPTION_FIELD(layers), "hidden-unit layers to widen, comma-separated (empty: all)")
        .text(WMARK_OPTION_FIELD(variant), "the dummies: zero, split, clique or mixed (a third each)",
              {"zero", "split", "clique", "mixed"})
        .number(WMARK_OPTION_FIELD(fraction), "units added per layer, as a fraction of its width", 0.0, 4.0)
        .integer(WMARK_OPTION_FIELD(clique_size), "units per clique", 2, 64);
    return b;
  }();
  return binding;
}

DummyNeuronsAttack::DummyNeuronsAttack(DummyNeuronsOptions options) : options_(declared_options().checked(options)) {}

nlohmann::json DummyNeuronsAttack::options() const { return declared_options().write(options_); }

AttackResult DummyNeuronsAttack::run(Network& victim, const AttackContext& context) const {
  auto model = clone_network(victim, context.make_model);
  auto generator = make_generator(derive_seed(context.seed, "dummy-neurons"));
  std::vector<std::string> names;
  for (const auto& layer : select_hidden_unit_layers(*model, options_.layers())) names.push_back(layer.name);
  nlohmann::json layers = nlohmann::json::array();
  for (const auto& name : names) {
    // Read again: widening the layer before changed this one's inputs.
    const auto layer = select_hidden_unit_layers(*model, name).front();
    const auto added = plan(options_, layer.units);
    add_dummies(*model, layer, added, options_.clique_size(), generator);
    const auto wide = select_hidden_unit_layers(*model, name).front();
    permute_units(*model, wide, torch::randperm(wide.units, generator, torch::kLong));
    layers.push_back({{"name", name},
                      {"units_before", layer.units},
                      {"units_after", wide.units},
                      {"zero", added.zero},
                      {"split", added.split},
                      {"clique", added.clique}});
  }
  return function_preserving_result(victim, model, context, std::move(layers));
}

}  // namespace wmark
