#include "wmark/attack/regularization.h"

#include "attack_options.h"
#include "trained_result.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>

#include "wmark/train/evaluate.h"
#include "wmark/train/hooks.h"
#include "wmark/train/trainer.h"
#include "wmark/util/error.h"
#include "wmark/util/random.h"

namespace wmark {

namespace {

// Stops training once the held-out accuracy has not improved for `patience` epochs.
class EarlyStopping : public TrainerHook {
 public:
  explicit EarlyStopping(std::int64_t patience) : patience_(patience) {}
  void on_epoch_end(EpochStats& stats, Network&) override {
    if (stats.test_accuracy > best_) {
      best_ = stats.test_accuracy;
      stale_ = 0;
    } else if (++stale_ >= patience_) {
      stats.stop = true;
    }
  }
  double best() const { return best_; }

 private:
  std::int64_t patience_;
  std::int64_t stale_ = 0;
  double best_ = -1;
};

}  // namespace

const OptionBinding<RegularizationOptions>& RegularizationAttack::declared_options() {
  static const auto binding = [] {
    OptionBinding<RegularizationOptions> b("the regularization attack");
    b.describe("Train under strong weight decay, then fine-tune with early stopping on held-out data")
        .number(WMARK_OPTION_FIELD(l2_decay), "weight decay of the regularization phase", 0.0)
        .integer(WMARK_OPTION_FIELD(reg_epochs), "epochs of the regularization phase", 1, 10000)
        .integer(WMARK_OPTION_FIELD(max_ft_epochs), "most epochs of the fine-tuning phase", 1, 10000)
        .integer(WMARK_OPTION_FIELD(patience), "fine-tuning stops after this many epochs without progress", 1, 10000)
        .number(WMARK_OPTION_FIELD(validation), "fraction of the attacker's data held out for early stopping",
                0.01, 0.5);
    return declare_optimizer(b, "training");
  }();
  return binding;
}

RegularizationAttack::RegularizationAttack(RegularizationOptions options)
    : options_(declared_options().checked(options)) {}

nlohmann::json RegularizationAttack::options() const { return declared_options().write(options_); }

AttackResult RegularizationAttack::run(Network& victim, const AttackContext& context) const {
  const auto& data = context.data;
  const auto held = static_cast<std::int64_t>(std::ceil(options_.validation() * static_cast<double>(data.size())));
  WMARK_CHECK(held >= 1 && held < data.size(), "regularization: ", data.size(),
              " attacker samples are too few to hold out ", options_.validation(), " of them");
  auto generator = make_generator(derive_seed(context.seed, "regularization-held-out"));
  const auto order = torch::randperm(data.size(), generator, torch::kLong);
  const auto held_out = data.select(order.narrow(0, 0, held));
  const auto train = data.select(order.narrow(0, held, data.size() - held));

  auto model = clone_network(victim, context.make_model);
  Trainer(model, attack_training(context.training, options_.optimizer(), options_.lr(), options_.reg_epochs(),
                                 context.seed, "regularization")
                     .weight_decay(options_.l2_decay()))
      .fit(train);
  const auto after_regularization =
      accuracy(*model, held_out, context.training.device(), context.training.eval_batch_size());

  auto stopping = std::make_shared<EarlyStopping>(options_.patience());
  Trainer finetune(model, attack_training(context.training, options_.optimizer(), options_.lr(),
                                          options_.max_ft_epochs(), context.seed, "regularization-finetune"));
  finetune.add_hook(stopping);
  const auto fit = finetune.fit(train, &held_out);

  auto result = trained_result(model, context, fit);
  result.details["reg_epochs"] = options_.reg_epochs();
  result.details["held_out_accuracy_after_regularization"] = after_regularization;
  result.details["best_held_out_accuracy"] = stopping->best();
  return result;
}

}  // namespace wmark
