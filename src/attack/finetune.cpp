#include "wmark/attack/finetune.h"

#include "attack_options.h"
#include "trained_result.h"

#include <torch/torch.h>

#include <cmath>

#include "wmark/models/parameters.h"
#include "wmark/train/trainer.h"
#include "wmark/util/error.h"
#include "wmark/util/random.h"
#include "../util/text.h"

namespace wmark {

std::string output_layer_weight(Network& model, std::int64_t num_classes) {
  std::string found;
  const auto params = model.named_parameters();
  for (const auto& name : weight_names(model, {2})) {
    if (params[name].size(0) == num_classes) found = name;
  }
  WMARK_CHECK(!found.empty(), "the model has no output layer: no 2-D weight with ", num_classes,
              " rows (a linear layer producing the class scores)");
  return found;
}

std::string reinitialize_output_layer(Network& model, std::int64_t num_classes, std::uint64_t seed) {
  const auto name = output_layer_weight(model, num_classes);
  auto params = model.named_parameters();
  auto& weight = params[name];
  auto generator = make_generator(derive_seed(seed, "reinit-output-layer"));
  torch::NoGradGuard no_grad;
  // torch::nn::Linear's default: kaiming_uniform(a = sqrt(5)) = U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
  const double bound = 1.0 / std::sqrt(static_cast<double>(weight.size(1)));
  weight.copy_(torch::empty(weight.sizes()).uniform_(-bound, bound, generator));
  const auto bias_name = name.substr(0, name.size() - 6) + "bias";
  if (auto* bias = params.find(bias_name)) bias->copy_(torch::empty(bias->sizes()).uniform_(-bound, bound, generator));
  return name;
}

void train_only_output_layer(Network& model, const std::string& output_weight) {
  const auto prefix = output_weight.substr(0, output_weight.size() - std::string("weight").size());
  for (auto& item : model.named_parameters()) {
    item.value().set_requires_grad(starts_with(item.key(), prefix) &&
                                   item.key().find('.', prefix.size()) == std::string::npos);
  }
}

const OptionBinding<FinetuneOptions>& FinetuneAttack::declared_options() {
  static const auto binding = [] {
    OptionBinding<FinetuneOptions> b("the finetune attack");
    b.describe("Fine-tune on the attacker's data (Adi et al.'s FTLL, FTAL, RTLL, RTAL)")
        .integer(WMARK_OPTION_FIELD(epochs), "epochs over the attacker's data", 1, 10000);
    declare_optimizer(b, "fine-tuning")
        .boolean(WMARK_OPTION_FIELD(reinit_last_layer), "re-initialise the output layer first (RTLL, RTAL)")
        .text(WMARK_OPTION_FIELD(train_layers), "the layers trained: all, or the output layer alone (last)",
              {"all", "last"});
    return b;
  }();
  return binding;
}

FinetuneAttack::FinetuneAttack(FinetuneOptions options) : options_(declared_options().checked(options)) {}

nlohmann::json FinetuneAttack::options() const { return declared_options().write(options_); }

AttackResult FinetuneAttack::run(Network& victim, const AttackContext& context) const {
  auto model = clone_network(victim, context.make_model);
  const auto classes = context.data.num_classes;
  const auto output = options_.reinit_last_layer() ? reinitialize_output_layer(*model, classes, context.seed)
                                                   : output_layer_weight(*model, classes);
  if (options_.train_layers() == "last") train_only_output_layer(*model, output);
  auto training = attack_training(context.training, options_.optimizer(), options_.lr(), options_.epochs(),
                                  context.seed, "finetune");
  auto fit = Trainer(model, training).fit(context.data);
  for (auto& p : model->parameters()) p.set_requires_grad(true);
  auto result = trained_result(model, context, fit);
  result.details["output_layer"] = output;
  return result;
}

}  // namespace wmark
