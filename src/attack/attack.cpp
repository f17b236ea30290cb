#include "wmark/attack/attack.h"

#include "../util/json_options.h"
#include "wmark/attack/distill.h"
#include "wmark/attack/finetune.h"
#include "wmark/attack/inversion.h"
#include "wmark/attack/overwrite.h"
#include "wmark/attack/prune.h"
#include "wmark/util/error.h"
#include "wmark/util/random.h"

namespace wmark {

AttackRegistry AttackRegistry::with_builtins() {
  AttackRegistry registry;
  registry.add("finetune", [](const nlohmann::json& j) {
    check_option_keys(j, "the finetune attack", {"epochs", "optimizer", "lr", "reinit_last_layer", "train_layers"});
    FinetuneOptions o;
    o.epochs(j.value("epochs", o.epochs())).optimizer(j.value("optimizer", o.optimizer())).lr(j.value("lr", o.lr()));
    o.reinit_last_layer(j.value("reinit_last_layer", o.reinit_last_layer()));
    o.train_layers(j.value("train_layers", o.train_layers()));
    return std::make_unique<FinetuneAttack>(o);
  });
  registry.add("prune", [](const nlohmann::json& j) {
    check_option_keys(j, "the prune attack", {"rate", "scope", "finetune_epochs", "optimizer", "lr"});
    PruneOptions o;
    o.rate(j.value("rate", o.rate())).scope(j.value("scope", o.scope()));
    o.finetune_epochs(j.value("finetune_epochs", o.finetune_epochs()));
    o.optimizer(j.value("optimizer", o.optimizer())).lr(j.value("lr", o.lr()));
    return std::make_unique<PruneAttack>(o);
  });
  registry.add("overwrite", [](const nlohmann::json& j) {
    check_option_keys(j, "the overwrite attack",
                      {"trigger", "trigger_options", "label_policy", "target_label", "trigger_size", "epochs",
                       "optimizer", "lr"});
    OverwriteOptions o;
    o.trigger(j.value("trigger", o.trigger()));
    o.trigger_options(j.value("trigger_options", o.trigger_options()));
    o.label_policy(j.value("label_policy", o.label_policy())).trigger_size(j.value("trigger_size", o.trigger_size()));
    o.target_label(j.value("target_label", o.target_label()));
    o.epochs(j.value("epochs", o.epochs())).optimizer(j.value("optimizer", o.optimizer())).lr(j.value("lr", o.lr()));
    return std::make_unique<OverwriteAttack>(o);
  });
  registry.add("distill", [](const nlohmann::json& j) {
    check_option_keys(j, "the distill attack", {"student", "epochs", "optimizer", "lr", "augment"});
    DistillOptions o;
    o.student(j.value("student", o.student())).epochs(j.value("epochs", o.epochs()));
    o.optimizer(j.value("optimizer", o.optimizer())).lr(j.value("lr", o.lr())).augment(j.value("augment", o.augment()));
    return std::make_unique<DistillAttack>(o);
  });
  registry.add("inversion", [](const nlohmann::json& j) {
    check_option_keys(j, "the inversion attack", {"steps", "lr", "tv_weight", "l2_weight", "per_class"});
    InversionOptions o;
    o.steps(j.value("steps", o.steps())).lr(j.value("lr", o.lr())).tv_weight(j.value("tv_weight", o.tv_weight()));
    o.l2_weight(j.value("l2_weight", o.l2_weight())).per_class(j.value("per_class", o.per_class()));
    return std::make_unique<InversionAttack>(o);
  });
  return registry;
}

AttackRegistry& attack_registry() {
  static AttackRegistry registry = AttackRegistry::with_builtins();
  return registry;
}

TrainerOptions attack_training(const TrainerOptions& base, const std::string& optimizer, double lr,
                               std::int64_t epochs, std::uint64_t seed, const std::string& purpose) {
  WMARK_CHECK(optimizer == "sgd" || optimizer == "adam", "attack optimizer must be sgd or adam, got '", optimizer,
              "'");
  WMARK_CHECK(lr > 0, "attack learning rate must be positive, got ", lr);
  WMARK_CHECK(epochs >= 1, "attack epochs must be at least 1, got ", epochs);
  return TrainerOptions(base)
      .optimizer(optimizer).lr(lr).momentum(0.9).weight_decay(0).epochs(epochs).schedule("none").augment(false)
      .checkpoint_path("").resume_from("").seed(derive_seed(seed, purpose));
}

}  // namespace wmark
