#include "wmark/attack/neural_cleanse.h"

#include "attack_options.h"
#include "exposed_units.h"
#include "trained_result.h"

#include <torch/torch.h>

#include <cmath>
#include <optional>

#include "wmark/attack/trigger_reconstruction.h"
#include "wmark/train/trainer.h"
#include "wmark/util/error.h"
#include "wmark/util/random.h"

namespace wmark {

const OptionBinding<NeuralCleanseUnlearningOptions>& NeuralCleanseUnlearningAttack::declared_options() {
  static const auto binding = [] {
    OptionBinding<NeuralCleanseUnlearningOptions> b("the neural-cleanse-unlearning attack");
    b.describe("Reconstruct the planted trigger, then fine-tune on copies stamped with it under their true labels");
    declare_reconstruction(b)
        .number(WMARK_OPTION_FIELD(stamped_fraction), "fraction of the attacker's images added again, stamped",
                0.01, 1.0)
        .integer(WMARK_OPTION_FIELD(epochs), "fine-tuning epochs", 1, 10000);
    return declare_optimizer(b, "fine-tuning");
  }();
  return binding;
}

NeuralCleanseUnlearningAttack::NeuralCleanseUnlearningAttack(NeuralCleanseUnlearningOptions options)
    : options_(declared_options().checked(options)) {}

nlohmann::json NeuralCleanseUnlearningAttack::options() const { return declared_options().write(options_); }

AttackResult NeuralCleanseUnlearningAttack::run(Network& victim, const AttackContext& context) const {
  const auto& data = context.data;
  const auto device = context.training.device();
  auto model = clone_network(victim, context.make_model);
  model->to(device);
  const auto reconstruction =
      reconstruct_triggers_shared(*model, data, reconstruction_of(options_), context.seed, device, context.artefacts.get());
  auto generator = make_generator(derive_seed(context.seed, "neural-cleanse-unlearning-stamped"));
  const auto count = std::max<std::int64_t>(
      1, static_cast<std::int64_t>(std::floor(options_.stamped_fraction() * static_cast<double>(data.size()))));
  const auto picked = torch::randperm(data.size(), generator, torch::kLong).narrow(0, 0, count);
  const auto training = with_stamped_copies(data, picked, reconstruction->suspects());
  const auto fit = Trainer(model, attack_training(context.training, options_.optimizer(), options_.lr(),
                                                  options_.epochs(), context.seed, "neural-cleanse-unlearning"))
                       .fit(training);
  auto result = trained_result(model, context, fit);
  result.details["reconstruction"] = reconstruction->summary();
  result.details["stamped"] = count;
  return result;
}

const OptionBinding<NeuralCleansePruningOptions>& NeuralCleansePruningAttack::declared_options() {
  static const auto binding = [] {
    OptionBinding<NeuralCleansePruningOptions> b("the neural-cleanse-pruning attack");
    b.describe("Reconstruct the planted trigger, then prune the units its stamp excites most");
    declare_reconstruction(b)
        .text(WMARK_OPTION_FIELD(layer), "hidden-unit layer to prune (empty: the last exposed one)")
        .number(WMARK_OPTION_FIELD(rate), "fraction of its units pruned, most excited first", 0.0, 0.99)
        .integer(WMARK_OPTION_FIELD(epochs), "fine-tuning epochs after pruning (0: none)", 0, 10000);
    return declare_optimizer(b, "fine-tuning");
  }();
  return binding;
}

NeuralCleansePruningAttack::NeuralCleansePruningAttack(NeuralCleansePruningOptions options)
    : options_(declared_options().checked(options)) {}

nlohmann::json NeuralCleansePruningAttack::options() const { return declared_options().write(options_); }

AttackResult NeuralCleansePruningAttack::run(Network& victim, const AttackContext& context) const {
  const auto& data = context.data;
  const auto device = context.training.device();
  auto model = clone_network(victim, context.make_model);
  select_hidden_unit_layers(*model, options_.layer());  // refuses an unknown name, listing the known
  std::optional<ExposedUnitLayer> chosen;
  for (const auto& exposed : exposed_unit_layers(*model)) {
    if (options_.layer().empty() || exposed.layer.name == options_.layer()) chosen = exposed;  // the last one
  }
  WMARK_CHECK(chosen, "neural-cleanse-pruning: the model exposes no activations of ",
              options_.layer().empty() ? std::string("any hidden-unit layer") : "layer " + options_.layer());
  model->to(device);
  const auto reconstruction =
      reconstruct_triggers_shared(*model, data, reconstruction_of(options_), context.seed, device, context.artefacts.get());
  const auto all = torch::arange(data.size(), torch::kLong);
  const auto stamped = with_stamped_copies(data, all, reconstruction->suspects()).images.narrow(0, data.size(), data.size());
  const auto clean = mean_per_unit(mean_unit_activation(*model, *chosen, data.images, data.normalization, device));
  const auto excited = mean_per_unit(mean_unit_activation(*model, *chosen, stamped, data.normalization, device));
  const auto order = std::get<1>((excited - clean).sort(0, /*descending=*/true));
  const auto units = chosen->layer.units;
  const auto count = static_cast<std::int64_t>(std::floor(options_.rate() * static_cast<double>(units)));
  const auto pruned = order.narrow(0, 0, count).contiguous();
  const auto mask = silence_units(*model, chosen->layer, pruned);
  if (options_.epochs() > 0) {
    Trainer trainer(model, attack_training(context.training, options_.optimizer(), options_.lr(), options_.epochs(),
                                           context.seed, "neural-cleanse-pruning"));
    trainer.add_hook(make_prune_mask_hook(mask));
    trainer.fit(data);
  }
  AttackResult result;
  result.model = model;
  result.arch = context.arch;
  std::vector<std::int64_t> pruned_units(pruned.data_ptr<std::int64_t>(), pruned.data_ptr<std::int64_t>() + count);
  result.details = {{"reconstruction", reconstruction->summary()}, {"layer", chosen->layer.name}, {"units", units},
                    {"pruned", pruned_units}, {"epochs", options_.epochs()}};
  return result;
}

}  // namespace wmark
