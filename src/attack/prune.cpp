#include "wmark/attack/prune.h"

#include "attack_options.h"

#include <torch/torch.h>

#include <cmath>

#include "wmark/models/parameters.h"
#include "wmark/train/trainer.h"
#include "wmark/util/error.h"

namespace wmark {
namespace {

void check_prune(double rate, const std::string& scope) {
  WMARK_CHECK(rate >= 0 && rate <= 0.95, "prune: rate must be in [0, 0.95], got ", rate);
  WMARK_CHECK(scope == "global" || scope == "layer", "prune: scope must be 'global' or 'layer', got '", scope, "'");
}

// Keeps all but the `count` smallest magnitudes of `magnitudes` (flat); exact even with ties.
at::Tensor keep_largest(const at::Tensor& magnitudes, std::int64_t count) {
  auto keep = torch::ones(magnitudes.sizes(), torch::kBool);
  if (count > 0) keep.index_fill_(0, std::get<1>(magnitudes.topk(count, 0, /*largest=*/false)), false);
  return keep;
}

class PruneMaskHook : public TrainerHook {
 public:
  explicit PruneMaskHook(PruneMask mask) : mask_(std::move(mask)) {}
  void on_step_end(Network& model, const StepContext&) override { apply(model); }

 private:
  void apply(Network& model) {
    torch::NoGradGuard no_grad;
    auto params = model.named_parameters();
    for (size_t i = 0; i < mask_.names.size(); ++i) {
      auto& p = params[mask_.names[i]];
      if (mask_.keep[i].device() != p.device()) mask_.keep[i] = mask_.keep[i].to(p.device());
      p.mul_(mask_.keep[i]);
    }
  }
  PruneMask mask_;
};

}  // namespace

std::vector<std::string> prunable_weights(Network& model) { return weight_names(model, {2, 4}); }

PruneMask prune_by_magnitude(Network& model, double rate, const std::string& scope) {
  check_prune(rate, scope);
  PruneMask mask;
  mask.names = prunable_weights(model);
  WMARK_CHECK(!mask.names.empty(), "prune: the model has no convolution or linear weights");
  auto params = model.named_parameters();
  torch::NoGradGuard no_grad;
  std::vector<at::Tensor> magnitudes;
  for (const auto& name : mask.names) magnitudes.push_back(params[name].detach().abs().flatten().cpu());
  if (scope == "global") {
    auto all = torch::cat(magnitudes);
    auto keep = keep_largest(all, static_cast<std::int64_t>(std::floor(rate * static_cast<double>(all.numel()))));
    std::int64_t offset = 0;
    for (const auto& m : magnitudes) {
      mask.keep.push_back(keep.narrow(0, offset, m.numel()));
      offset += m.numel();
    }
  } else {
    for (const auto& m : magnitudes) {
      mask.keep.push_back(keep_largest(m, static_cast<std::int64_t>(std::floor(rate * static_cast<double>(m.numel())))));
    }
  }
  for (size_t i = 0; i < mask.names.size(); ++i) {
    auto& p = params[mask.names[i]];
    mask.keep[i] = mask.keep[i].reshape(p.sizes()).to(p.device());
    p.mul_(mask.keep[i]);
  }
  return mask;
}

std::shared_ptr<TrainerHook> make_prune_mask_hook(PruneMask mask) {
  return std::make_shared<PruneMaskHook>(std::move(mask));
}

const OptionBinding<PruneOptions>& PruneAttack::declared_options() {
  static const auto binding = [] {
    OptionBinding<PruneOptions> b("the prune attack");
    b.describe("Zero the smallest weights, optionally fine-tune with them held at zero")
        .number(WMARK_OPTION_FIELD(rate), "fraction of convolution and linear weights zeroed", 0.0, 0.95)
        .text(WMARK_OPTION_FIELD(scope), "one magnitude threshold over all layers (global) or the rate per layer",
              {"global", "layer"})
        .integer(WMARK_OPTION_FIELD(finetune_epochs), "fine-tuning epochs after pruning (0: none)", 0, 10000);
    return declare_optimizer(b, "fine-tuning");
  }();
  return binding;
}

PruneAttack::PruneAttack(PruneOptions options) : options_(declared_options().checked(options)) {}

nlohmann::json PruneAttack::options() const { return declared_options().write(options_); }

AttackResult PruneAttack::run(Network& victim, const AttackContext& context) const {
  auto model = clone_network(victim, context.make_model);
  auto mask = prune_by_magnitude(*model, options_.rate(), options_.scope());
  if (options_.finetune_epochs() > 0) {
    auto training = attack_training(context.training, options_.optimizer(), options_.lr(),
                                    options_.finetune_epochs(), context.seed, "prune-finetune");
    Trainer trainer(model, training);
    trainer.add_hook(make_prune_mask_hook(mask));
    trainer.fit(context.data);
  }
  // Sparsity as it is after any fine-tuning (the mask holds it).
  auto params = model->named_parameters();
  std::int64_t zeros = 0, total = 0;
  nlohmann::json layers = nlohmann::json::object();
  for (const auto& name : mask.names) {
    const auto& p = params[name];
    const auto z = p.eq(0).sum().item<std::int64_t>();
    layers[name] = static_cast<double>(z) / static_cast<double>(p.numel());
    zeros += z;
    total += p.numel();
  }
  AttackResult result;
  result.model = model;
  result.arch = context.arch;
  result.details = {{"sparsity", static_cast<double>(zeros) / static_cast<double>(total)}, {"layers", layers},
                    {"finetune_epochs", options_.finetune_epochs()}};
  return result;
}

}  // namespace wmark
