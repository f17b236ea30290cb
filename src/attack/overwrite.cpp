#include "wmark/attack/overwrite.h"

#include "attack_options.h"

#include <torch/torch.h>

#include "wmark/util/error.h"
#include "wmark/util/random.h"
#include "wmark/watermark/embed.h"

namespace wmark {

const OptionBinding<OverwriteOptions>& OverwriteAttack::declared_options() {
  static const auto binding = [] {
    OptionBinding<OverwriteOptions> b("the overwrite attack");
    b.describe("Embed the attacker's own trigger-set watermark by fine-tuning")
        .text(WMARK_OPTION_FIELD(trigger), "the attacker's trigger generator (a registry name)")
        .object(WMARK_OPTION_FIELD(trigger_options), "the generator's options, e.g. {\"text\":\"MINE\"}")
        .text(WMARK_OPTION_FIELD(label_policy), "labels of the attacker's triggers", {"auto", "target", "random"})
        .integer(WMARK_OPTION_FIELD(target_label), "the attacker's target class with the target policy (-1: drawn)",
                 -1)
        .integer(WMARK_OPTION_FIELD(trigger_size), "number of attacker triggers", 1, 1000000)
        .integer(WMARK_OPTION_FIELD(epochs), "fine-tuning epochs on the attacker's data and triggers", 1, 10000);
    return declare_optimizer(b, "fine-tuning");
  }();
  return binding;
}

OverwriteAttack::OverwriteAttack(OverwriteOptions options) : options_(declared_options().checked(options)) {
  trigger_registry().create(options_.trigger(), options_.trigger_options());  // refuses unknown names/options now
}

nlohmann::json OverwriteAttack::options() const { return declared_options().write(options_); }

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
