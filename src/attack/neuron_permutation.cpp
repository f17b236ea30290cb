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
        .text(WMARK_OPTION_FIELD(layers), "hidden-unit layers to reorder, comma-separated (empty: all)");
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
  return function_preserving_result(victim, model, context, std::move(layers));
}

}  // namespace wmark
