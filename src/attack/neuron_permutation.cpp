#include "wmark/attack/neuron_permutation.h"

#include <torch/torch.h>

#include "function_preserving.h"
#include "wmark/models/hidden_units.h"
#include "wmark/util/random.h"

namespace wmark {

const OptionBinding<NeuronPermutationOptions>& NeuronPermutationAttack::declared_options() {
  static const auto binding = [] {
    OptionBinding<NeuronPermutationOptions> b("the neuron-permutation attack");
    b.describe("Reorder hidden units consistently: the same function, the units in another order")
        .text(WMARK_OPTION_FIELD(layers), "hidden-unit layers to reorder, comma-separated (empty: all)")
        .boolean(WMARK_OPTION_FIELD(residual),
                 "with every layer chosen, also reorder resnet18's residual streams (all writers and readers)");
    return b;
  }();
  return binding;
}

NeuronPermutationAttack::NeuronPermutationAttack(NeuronPermutationOptions options)
    : options_(declared_options().checked(options)) {}

nlohmann::json NeuronPermutationAttack::options() const { return declared_options().write(options_); }

AttackResult NeuronPermutationAttack::run(Network& victim, const AttackContext& context) const {
  auto model = clone_network(victim, context.make_model);
  auto generator = make_generator(derive_seed(context.seed, "neuron-permutation"));
  nlohmann::json layers = nlohmann::json::array();
  for (const auto& layer : select_hidden_unit_layers(*model, options_.layers())) {
    const auto order = torch::randperm(layer.units, generator, torch::kLong);
    permute_units(*model, layer, order);
    const auto moved = order.ne(torch::arange(layer.units)).sum().item<std::int64_t>();
    layers.push_back({{"name", layer.name}, {"units", layer.units}, {"moved", moved}});
  }
  nlohmann::json streams = nlohmann::json::array();
  if (options_.residual() && options_.layers().empty()) {
    for (const auto& stream : residual_streams(*model)) {
      const auto order = torch::randperm(stream.units, generator, torch::kLong);
      permute_stream(*model, stream, order);
      streams.push_back({{"name", stream.name},
                         {"units", stream.units},
                         {"moved", order.ne(torch::arange(stream.units)).sum().item<std::int64_t>()}});
    }
  }
  auto result = function_preserving_result(victim, model, context, std::move(layers));
  result.details["streams"] = std::move(streams);
  return result;
}

}  // namespace wmark
