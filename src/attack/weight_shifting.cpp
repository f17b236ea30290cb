#include "wmark/attack/weight_shifting.h"

#include "attack_options.h"
#include "trained_result.h"

#include <torch/torch.h>

#include "wmark/models/parameters.h"
#include "wmark/train/trainer.h"
#include "wmark/util/error.h"
#include "wmark/util/random.h"

namespace wmark {

std::int64_t shift_convolution_weights(Network& model, double shift, double noise, std::uint64_t seed) {
  const auto names = weight_names(model, {4});
  WMARK_CHECK(!names.empty(), "weight shifting: the model has no convolution (4-D weight)");
  auto generator = make_generator(seed);
  auto params = model.named_parameters();
  torch::NoGradGuard no_grad;
  for (const auto& name : names) {
    auto& w = params[name];
    const auto spread = w.std().item<double>();
    const auto gaussian = torch::randn(w.sizes(), generator, w.options().device(torch::kCPU)).to(w.device());
    w.sub_(w.mean(0, /*keepdim=*/true) * shift + gaussian * (noise * spread));
  }
  return static_cast<std::int64_t>(names.size());
}

const OptionBinding<WeightShiftingOptions>& WeightShiftingAttack::declared_options() {
  static const auto binding = [] {
    OptionBinding<WeightShiftingOptions> b("the weight-shifting attack");
    b.describe("Shift every convolution's filters by their mean and add noise, then fine-tune")
        .number(WMARK_OPTION_FIELD(shift), "multiple of the layer's mean filter subtracted from each filter", 0.0)
        .number(WMARK_OPTION_FIELD(noise), "noise standard deviation in units of the layer's weight spread", 0.0)
        .integer(WMARK_OPTION_FIELD(epochs), "fine-tuning epochs after shifting", 1, 10000);
    return declare_optimizer(b, "fine-tuning");
  }();
  return binding;
}

WeightShiftingAttack::WeightShiftingAttack(WeightShiftingOptions options)
    : options_(declared_options().checked(options)) {}

nlohmann::json WeightShiftingAttack::options() const { return declared_options().write(options_); }

AttackResult WeightShiftingAttack::run(Network& victim, const AttackContext& context) const {
  auto model = clone_network(victim, context.make_model);
  const auto tensors =
      shift_convolution_weights(*model, options_.shift(), options_.noise(), derive_seed(context.seed, "weight-shifting"));
  const auto fit = Trainer(model, attack_training(context.training, options_.optimizer(), options_.lr(),
                                                  options_.epochs(), context.seed, "weight-shifting-finetune"))
                       .fit(context.data);
  auto result = trained_result(model, context, fit);
  result.details["tensors"] = tensors;
  return result;
}

}  // namespace wmark
