#include "wmark/attack/neural_laundering.h"

#include "attack_options.h"
#include "exposed_units.h"
#include "trained_result.h"

#include <torch/torch.h>

#include "wmark/attack/trigger_reconstruction.h"
#include "wmark/train/trainer.h"
#include "wmark/util/error.h"

namespace wmark {

const OptionBinding<NeuralLaunderingOptions>& NeuralLaunderingAttack::declared_options() {
  static const auto binding = [] {
    OptionBinding<NeuralLaunderingOptions> b("the neural-laundering attack");
    b.describe("Reconstruct the planted trigger, reset the units its stamp excites, retrain with stamped copies");
    declare_reconstruction(b)
        .number(WMARK_OPTION_FIELD(conv_threshold), "reset a channel the stamp raises by more than this", 0.0)
        .number(WMARK_OPTION_FIELD(fc_threshold), "reset a linear unit the stamp raises by more than this", 0.0)
        .integer(WMARK_OPTION_FIELD(epochs), "retraining epochs", 1, 10000);
    return declare_optimizer(b, "retraining");
  }();
  return binding;
}

NeuralLaunderingAttack::NeuralLaunderingAttack(NeuralLaunderingOptions options)
    : options_(declared_options().checked(options)) {}

nlohmann::json NeuralLaunderingAttack::options() const { return declared_options().write(options_); }

AttackResult NeuralLaunderingAttack::run(Network& victim, const AttackContext& context) const {
  const auto& data = context.data;
  const auto device = context.training.device();
  auto model = clone_network(victim, context.make_model);
  const auto exposed = exposed_unit_layers(*model);
  WMARK_CHECK(!exposed.empty(), "neural-laundering: the model exposes no hidden-unit activations");
  model->to(device);
  const auto reconstruction =
      reconstruct_triggers_shared(*model, data, reconstruction_of(options_), context.seed, device, context.artefacts.get());
  const auto retraining = with_stamped_copies(data, torch::arange(data.size(), torch::kLong), reconstruction->suspects());
  const auto stamped = retraining.images.narrow(0, data.size(), data.size());

  // Every difference is measured on the unchanged model, then the units are reset. As the
  // paper (and the toolbox), only the second half of the layers: resetting the first ones
  // can zero every channel of the first convolution, and nothing is left to retrain.
  std::vector<at::Tensor> reset;
  const auto first_reset = exposed.size() / 2;
  for (std::size_t i = 0; i < exposed.size(); ++i) {
    const auto& layer = exposed[i];
    if (i < first_reset) {
      reset.push_back(torch::empty({0}, torch::kLong));
      continue;
    }
    const auto rise = mean_unit_activation(*model, layer, stamped, data.normalization, device) -
                      mean_unit_activation(*model, layer, data.images, data.normalization, device);
    const bool convolution = rise.dim() > 1;  // [units, H, W]: a channel counts at its most raised position
    const auto per_unit = convolution ? std::get<0>(rise.flatten(1).max(1)) : rise;
    reset.push_back(per_unit.gt(convolution ? options_.conv_threshold() : options_.fc_threshold()).nonzero().squeeze(1));
  }
  auto reset_counts = nlohmann::json::object();
  auto unit_counts = nlohmann::json::object();
  auto params = model->named_parameters();
  for (std::size_t i = 0; i < exposed.size(); ++i) {
    // Reset as the paper: the unit's incoming weights to zero, then retrained like the rest.
    torch::NoGradGuard no_grad;
    params[exposed[i].layer.weight].index_fill_(0, reset[i].to(params[exposed[i].layer.weight].device()), 0);
    reset_counts[exposed[i].layer.name] = reset[i].numel();
    unit_counts[exposed[i].layer.name] = exposed[i].layer.units;
  }
  const auto fit = Trainer(model, attack_training(context.training, options_.optimizer(), options_.lr(),
                                                  options_.epochs(), context.seed, "neural-laundering"))
                       .fit(retraining);
  auto result = trained_result(model, context, fit);
  result.details["reconstruction"] = reconstruction->summary();
  result.details["reset"] = reset_counts;
  result.details["units"] = unit_counts;
  return result;
}

}  // namespace wmark
