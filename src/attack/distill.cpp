#include "wmark/attack/distill.h"

#include "attack_options.h"

#include <torch/torch.h>

#include "wmark/train/evaluate.h"
#include "wmark/train/trainer.h"
#include "wmark/util/error.h"
#include "wmark/util/random.h"

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
  const auto& data = context.data;
  const auto device = context.training.device();
  // The victim as a black box: only its predicted labels are used.
  Dataset relabelled = data;
  relabelled.labels = predict_labels(victim, data.images, data.normalization, device, context.training.eval_batch_size());

  const bool same_arch = options_.student().empty() || options_.student() == context.arch;
  WMARK_CHECK(same_arch || context.make_arch, "distill: cannot build a '", options_.student(),
              "' student without a model registry in the attack context");
  // Registry factories draw initial weights from the global generator; seed it from the attack seed.
  torch::manual_seed(derive_seed(context.seed, "distill-student-init"));
  auto student = same_arch ? context.make_model() : context.make_arch(options_.student());
  WMARK_CHECK(student, "distill: the model factory returned no student");
  student->to(device);
  auto training = attack_training(context.training, options_.optimizer(), options_.lr(), options_.epochs(),
                                  context.seed, "distill").augment(options_.augment());
  Trainer(student, training).fit(relabelled);

  AttackResult result;
  result.model = student;
  result.arch = same_arch ? context.arch : options_.student();
  const double agreement =
      predict_labels(*student, data.images, data.normalization, device).eq(relabelled.labels).to(torch::kDouble)
          .mean().item<double>();
  const double victim_accuracy = relabelled.labels.eq(data.labels).to(torch::kDouble).mean().item<double>();
  result.details = {{"student", result.arch}, {"agreement", agreement}, {"victim_accuracy_on_attacker_data", victim_accuracy}};
  return result;
}

}  // namespace wmark
