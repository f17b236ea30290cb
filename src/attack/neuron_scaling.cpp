#include "wmark/attack/neuron_scaling.h"

#include <torch/torch.h>

#include <cmath>

#include "function_preserving.h"
#include "wmark/models/hidden_units.h"
#include "wmark/util/random.h"

namespace wmark {

const OptionBinding<NeuronScalingOptions>& NeuronScalingAttack::declared_options() {
  static const auto binding = [] {
    OptionBinding<NeuronScalingOptions> b("the neuron-scaling attack");
    b.describe("Scale each hidden unit by c > 0 and its outgoing weights by 1/c, and flip the sign of units under "
               "a batch norm: the same function, other weights")
        .text(WMARK_OPTION_FIELD(layers), "hidden-unit layers to rescale, comma-separated (empty: all)")
        .number(WMARK_OPTION_FIELD(max_scale), "factors are log-uniform in [1/max_scale, max_scale]", 1.0, 1000.0)
        .number(WMARK_OPTION_FIELD(flip_rate), "share of the units under a batch norm whose sign is flipped too", 0.0,
                1.0)
        .boolean(WMARK_OPTION_FIELD(residual),
                 "with every layer chosen, also rescale resnet18's residual streams (all writers and readers)");
    return b;
  }();
  return binding;
}

NeuronScalingAttack::NeuronScalingAttack(NeuronScalingOptions options) : options_(declared_options().checked(options)) {}

nlohmann::json NeuronScalingAttack::options() const { return declared_options().write(options_); }

AttackResult NeuronScalingAttack::run(Network& victim, const AttackContext& context) const {
  auto model = clone_network(victim, context.make_model);
  auto generator = make_generator(derive_seed(context.seed, "neuron-scaling"));
  const double log_max = std::log(options_.max_scale());
  const auto draw_factors = [&](std::int64_t n) {  // log-uniform in [1/max_scale, max_scale]
    return torch::exp((torch::rand({n}, generator, torch::kDouble) * 2 - 1) * log_max).to(torch::kFloat);
  };
  nlohmann::json layers = nlohmann::json::array();
  for (const auto& layer : select_hidden_unit_layers(*model, options_.layers())) {
    const auto factors = draw_factors(layer.units);
    scale_units(*model, layer, factors);
    std::int64_t flipped = 0;
    if (!layer.norm.empty() && options_.flip_rate() > 0) {
      const auto flip = torch::rand({layer.units}, generator, torch::kDouble) < options_.flip_rate();
      flip_unit_signs(*model, layer, flip);
      flipped = flip.sum().item<std::int64_t>();
    }
    layers.push_back({{"name", layer.name}, {"units", layer.units}, {"min_factor", factors.min().item<double>()},
                      {"max_factor", factors.max().item<double>()}, {"flipped", flipped}});
  }
  nlohmann::json streams = nlohmann::json::array();
  if (options_.residual() && options_.layers().empty()) {
    for (const auto& stream : residual_streams(*model)) {
      const auto factors = draw_factors(stream.units);
      scale_stream(*model, stream, factors);
      streams.push_back({{"name", stream.name}, {"units", stream.units},
                         {"min_factor", factors.min().item<double>()}, {"max_factor", factors.max().item<double>()}});
    }
  }
  auto result = function_preserving_result(victim, model, context, std::move(layers));
  result.details["streams"] = std::move(streams);
  return result;
}

}  // namespace wmark
