#include "wmark/attack/label_attacks.h"

#include "attack_options.h"
#include "trained_result.h"

#include <torch/torch.h>

#include "wmark/train/trainer.h"
#include "wmark/util/error.h"
#include "wmark/util/random.h"

namespace wmark {

namespace {

OptionBinding<LabelAttackOptions> declare(const std::string& name, const std::string& summary) {
  OptionBinding<LabelAttackOptions> b("the " + name + " attack");
  b.describe(summary)
      .integer(WMARK_OPTION_FIELD(epochs), "fine-tuning epochs over the attacker's data", 1, 10000)
      .number(WMARK_OPTION_FIELD(epsilon), "probability mass moved off the labelled class", 0.0, 0.999);
  declare_optimizer(b, "fine-tuning");
  return b;
}

void check_labels(const at::Tensor& labels, std::int64_t num_classes, double epsilon) {
  WMARK_CHECK(labels.dim() == 1 && labels.scalar_type() == torch::kLong, "labels must be int64 [N], got ",
              labels.scalar_type(), " ", labels.sizes());
  WMARK_CHECK(num_classes >= 2, "label attacks need at least 2 classes, got ", num_classes);
  WMARK_CHECK(epsilon >= 0 && epsilon < 1, "epsilon must be in [0, 1), got ", epsilon);
}

// Fine-tunes a copy of `victim` on the attacker's images with `targets` as soft labels.
AttackResult finetune_on(const at::Tensor& targets, Network& victim, const AttackContext& context,
                         const LabelAttackOptions& options, const std::string& purpose) {
  auto model = clone_network(victim, context.make_model);
  auto data = context.data;
  data.soft_labels = targets;
  const auto fit = Trainer(model, attack_training(context.training, options.optimizer(), options.lr(),
                                                  options.epochs(), context.seed, purpose))
                       .fit(data);
  auto result = trained_result(model, context, fit);
  return result;
}

}  // namespace

at::Tensor smoothed_labels(const at::Tensor& labels, std::int64_t num_classes, double epsilon) {
  check_labels(labels, num_classes, epsilon);
  const auto one_hot = torch::one_hot(labels, num_classes).to(torch::kFloat);
  return one_hot * (1 - epsilon) + epsilon / static_cast<double>(num_classes);
}

at::Tensor noised_labels(const at::Tensor& labels, std::int64_t num_classes, double epsilon, std::uint64_t seed) {
  check_labels(labels, num_classes, epsilon);
  auto generator = make_generator(seed);
  const auto random = torch::randint(num_classes, {labels.size(0)}, generator, torch::kLong);
  return torch::one_hot(labels, num_classes).to(torch::kFloat) * (1 - epsilon) +
         torch::one_hot(random, num_classes).to(torch::kFloat) * epsilon;
}

const OptionBinding<LabelAttackOptions>& LabelSmoothingAttack::declared_options() {
  static const auto binding =
      declare("label-smoothing", "Fine-tune on labels smoothed towards the uniform distribution");
  return binding;
}

LabelSmoothingAttack::LabelSmoothingAttack(LabelAttackOptions options) : options_(declared_options().checked(options)) {}

nlohmann::json LabelSmoothingAttack::options() const { return declared_options().write(options_); }

AttackResult LabelSmoothingAttack::run(Network& victim, const AttackContext& context) const {
  const auto targets = smoothed_labels(context.data.labels, context.data.num_classes, options_.epsilon());
  return finetune_on(targets, victim, context, options_, "label-smoothing");
}

const OptionBinding<LabelAttackOptions>& LabelNoisingAttack::declared_options() {
  static const auto binding = declare("label-noising", "Fine-tune on labels mixed with a random class per sample");
  return binding;
}

LabelNoisingAttack::LabelNoisingAttack(LabelAttackOptions options) : options_(declared_options().checked(options)) {}

nlohmann::json LabelNoisingAttack::options() const { return declared_options().write(options_); }

AttackResult LabelNoisingAttack::run(Network& victim, const AttackContext& context) const {
  const auto targets = noised_labels(context.data.labels, context.data.num_classes, options_.epsilon(),
                                     derive_seed(context.seed, "label-noising-classes"));
  return finetune_on(targets, victim, context, options_, "label-noising");
}

}  // namespace wmark
