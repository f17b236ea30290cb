#include "wmark/attack/weight_quantization.h"

#include "attack_options.h"

#include <torch/torch.h>

#include <algorithm>

#include "wmark/models/parameters.h"
#include "wmark/train/trainer.h"
#include "wmark/util/error.h"

namespace wmark {

std::int64_t quantize_parameters(Network& model, std::int64_t bits, const std::string& scope) {
  WMARK_CHECK(bits >= 1 && bits <= 16, "weight quantization: bits must be in [1, 16], got ", bits);
  WMARK_CHECK(scope == "all" || scope == "weights", "weight quantization: scope must be 'all' or 'weights', got '",
              scope, "'");
  std::vector<std::string> names;
  if (scope == "weights") {
    names = weight_names(model, {2, 4});
  } else {
    for (const auto& item : model.named_parameters()) names.push_back(item.key());
  }
  const double levels = static_cast<double>(std::int64_t(1) << bits);
  torch::NoGradGuard no_grad;
  auto params = model.named_parameters();
  for (const auto& name : names) {
    auto& p = params[name];
    const double lo = p.min().item<double>(), hi = p.max().item<double>();
    if (hi <= lo) continue;  // a constant tensor is its own quantization
    const double step = (hi - lo) / levels;
    // Bin k covers [lo + k step, lo + (k+1) step); the maximum falls in the last bin.
    auto bin = ((p - lo) / step).floor().clamp(0, levels - 1);
    p.copy_(lo + (bin + 0.5) * step);
  }
  return static_cast<std::int64_t>(names.size());
}

const OptionBinding<WeightQuantizationOptions>& WeightQuantizationAttack::declared_options() {
  static const auto binding = [] {
    OptionBinding<WeightQuantizationOptions> b("the weight-quantization attack");
    b.describe("Round every parameter tensor to 2^bits levels, then fine-tune")
        .integer(WMARK_OPTION_FIELD(bits), "levels per tensor are 2^bits", 1, 16)
        .text(WMARK_OPTION_FIELD(scope), "quantize all parameters or only convolution and linear weights",
              {"all", "weights"})
        .integer(WMARK_OPTION_FIELD(epochs), "fine-tuning epochs after quantizing (0: none)", 0, 10000);
    return declare_optimizer(b, "fine-tuning");
  }();
  return binding;
}

WeightQuantizationAttack::WeightQuantizationAttack(WeightQuantizationOptions options)
    : options_(declared_options().checked(options)) {}

nlohmann::json WeightQuantizationAttack::options() const { return declared_options().write(options_); }

AttackResult WeightQuantizationAttack::run(Network& victim, const AttackContext& context) const {
  auto model = clone_network(victim, context.make_model);
  const auto tensors = quantize_parameters(*model, options_.bits(), options_.scope());
  if (options_.epochs() > 0) {
    Trainer(model, attack_training(context.training, options_.optimizer(), options_.lr(), options_.epochs(),
                                   context.seed, "weight-quantization-finetune"))
        .fit(context.data);
  }
  AttackResult result;
  result.model = model;
  result.arch = context.arch;
  result.details = {{"tensors", tensors}, {"levels", std::int64_t(1) << options_.bits()},
                    {"epochs", options_.epochs()}};
  return result;
}

}  // namespace wmark
