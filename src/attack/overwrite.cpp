#include "wmark/attack/overwrite.h"

#include <torch/torch.h>

#include "wmark/util/error.h"
#include "wmark/util/random.h"
#include "wmark/watermark/embed.h"

namespace wmark {

OverwriteAttack::OverwriteAttack(OverwriteOptions options) : options_(std::move(options)) {
  trigger_registry().create(options_.trigger(), options_.trigger_options());  // refuses unknown names/options now
  WMARK_CHECK(options_.trigger_size() >= 1, "overwrite: trigger_size must be at least 1");
  const auto& policy = options_.label_policy();
  WMARK_CHECK(policy == "auto" || policy == "target" || policy == "random",
              "overwrite: label_policy must be auto, target or random, got '", policy, "'");
  WMARK_CHECK(options_.target_label() >= -1, "overwrite: target_label must be a class or -1, got ",
              options_.target_label());
  attack_training(TrainerOptions(), options_.optimizer(), options_.lr(), options_.epochs(), 0, "check");
}

nlohmann::json OverwriteAttack::options() const {
  return {{"trigger", options_.trigger()}, {"trigger_options", options_.trigger_options()},
          {"label_policy", options_.label_policy()}, {"target_label", options_.target_label()},
          {"trigger_size", options_.trigger_size()},
          {"epochs", options_.epochs()}, {"optimizer", options_.optimizer()}, {"lr", options_.lr()}};
}

AttackResult OverwriteAttack::run(Network& victim, const AttackContext& context) const {
  auto model = clone_network(victim, context.make_model);
  auto watermark = TriggerWatermarkOptions().trigger(options_.trigger()).trigger_options(options_.trigger_options());
  watermark.spec().size = options_.trigger_size();
  watermark.spec().label_policy = options_.label_policy();
  watermark.spec().target_label = options_.target_label();
  // The attacker's own secret, repeatable from the attack seed like every attack.
  watermark.spec().secret = experiment_secret(context.seed, "overwrite-key");
  watermark.spec().data_dir = context.data_dir;
  watermark.max_extra_epochs(0);  // the attacker's budget is the epochs asked for
  auto training = attack_training(context.training, options_.optimizer(), options_.lr(), options_.epochs(),
                                  context.seed, "overwrite");
  DatasetSplits splits{context.data, Dataset{}};
  CheckpointInfo info;
  info.arch = context.arch;
  auto embedded = embed_trigger_watermark(model, splits, training, watermark, info, /*pretrained=*/false);
  AttackResult result;
  result.model = model;
  result.arch = context.arch;
  result.details = {{"attacker_trigger_accuracy", embedded.trigger_accuracy},
                    {"attacker_generator", options_.trigger()},
                    {"attacker_label_policy", embedded.key.params.value("label_policy", "")}};
  return result;
}

}  // namespace wmark
