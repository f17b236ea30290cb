#include "wmark/attack/distill.h"

#include "attack_options.h"
#include "extraction.h"

#include <torch/torch.h>


namespace wmark {

const OptionBinding<DistillOptions>& DistillAttack::declared_options() {
  static const auto binding = [] {
    OptionBinding<DistillOptions> b("the distill attack");
    b.describe("Train a fresh student on the victim's labels of the attacker's data")
        .text(WMARK_OPTION_FIELD(student), "the student's architecture (default: the victim's)")
        .integer(WMARK_OPTION_FIELD(epochs), "training epochs of the student", 1, 10000);
    return declare_optimizer(b, "the student's")
        .boolean(WMARK_OPTION_FIELD(augment), "random crops and flips of the attacker's images");
  }();
  return binding;
}

DistillAttack::DistillAttack(DistillOptions options) : options_(declared_options().checked(options)) {}

nlohmann::json DistillAttack::options() const { return declared_options().write(options_); }

AttackResult DistillAttack::run(Network& victim, const AttackContext& context) const {
  // The victim as a black box: only its predicted labels are used.
  const auto answers = ask_victim(victim, context, context.data, /*soft=*/false, "distill");
  auto training = attack_training(context.training, options_.optimizer(), options_.lr(), options_.epochs(),
                                  context.seed, "distill").augment(options_.augment());
  auto result =
      train_surrogate(fresh_surrogate(context, options_.student(), "distill"), options_.student(), answers, training, context);
  result.details["student"] = result.arch;
  result.details["victim_accuracy_on_attacker_data"] =
      answers.labels.eq(context.data.labels).to(torch::kDouble).mean().item<double>();
  return result;
}

}  // namespace wmark
