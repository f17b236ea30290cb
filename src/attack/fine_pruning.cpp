#include "wmark/attack/fine_pruning.h"

#include "attack_options.h"
#include "exposed_units.h"

#include <torch/torch.h>

#include <cmath>
#include <optional>

#include "wmark/attack/prune.h"
#include "wmark/models/hidden_units.h"
#include "wmark/train/trainer.h"
#include "wmark/util/error.h"

namespace wmark {

const OptionBinding<FinePruningOptions>& FinePruningAttack::declared_options() {
  static const auto binding = [] {
    OptionBinding<FinePruningOptions> b("the fine-pruning attack");
    b.describe("Prune the units clean data leaves least active, then fine-tune with them held at zero")
        .text(WMARK_OPTION_FIELD(layer), "hidden-unit layer to prune (empty: the last convolutional one)")
        .number(WMARK_OPTION_FIELD(rate), "fraction of its units pruned, least active first", 0.0, 0.99)
        .integer(WMARK_OPTION_FIELD(epochs), "fine-tuning epochs after pruning (0: none)", 0, 10000);
    return declare_optimizer(b, "fine-tuning");
  }();
  return binding;
}

FinePruningAttack::FinePruningAttack(FinePruningOptions options) : options_(declared_options().checked(options)) {}

nlohmann::json FinePruningAttack::options() const { return declared_options().write(options_); }

AttackResult FinePruningAttack::run(Network& victim, const AttackContext& context) const {
  auto model = clone_network(victim, context.make_model);
  select_hidden_unit_layers(*model, options_.layer());  // refuses an unknown name, listing the known
  const auto params = model->named_parameters();
  std::optional<ExposedUnitLayer> chosen;
  for (const auto& exposed : exposed_unit_layers(*model)) {
    const bool wanted = options_.layer().empty() ? params[exposed.layer.weight].dim() == 4
                                                 : exposed.layer.name == options_.layer();
    if (wanted) chosen = exposed;  // the last one wanted
  }
  WMARK_CHECK(chosen, "fine-pruning: the model exposes no activations of ",
              options_.layer().empty() ? std::string("a convolutional hidden-unit layer") : "layer " + options_.layer(),
              " (it taps ", model->tapped_layers().size(), " layers)");
  const auto& layer = chosen->layer;
  const auto device = context.training.device();
  model->to(device);
  const auto activation =
      mean_per_unit(mean_unit_activation(*model, *chosen, context.data.images, context.data.normalization, device));
  const auto order = std::get<1>(activation.sort());  // least active first
  const auto count = static_cast<std::int64_t>(std::floor(options_.rate() * static_cast<double>(layer.units)));
  const auto pruned = order.narrow(0, 0, count);
  // Pruning a unit: its producer row and its consumer columns set to zero, and kept there.
  const auto mask = silence_units(*model, layer, pruned);
  if (options_.epochs() > 0) {
    Trainer trainer(model, attack_training(context.training, options_.optimizer(), options_.lr(), options_.epochs(),
                                           context.seed, "fine-pruning"));
    trainer.add_hook(make_prune_mask_hook(mask));
    trainer.fit(context.data);
  }
  AttackResult result;
  result.model = model;
  result.arch = context.arch;
  std::vector<std::int64_t> pruned_units(pruned.data_ptr<std::int64_t>(), pruned.data_ptr<std::int64_t>() + count);
  result.details = {{"layer", layer.name}, {"units", layer.units}, {"pruned", pruned_units},
                    {"epochs", options_.epochs()}};
  return result;
}

}  // namespace wmark
