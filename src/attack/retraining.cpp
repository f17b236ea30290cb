#include "wmark/attack/retraining.h"

#include <map>

#include "attack_options.h"
#include "extraction.h"
#include "wmark/util/error.h"

namespace wmark {
namespace {

OptionBinding<RetrainingOptions> declare_retraining(const std::string& component, const std::string& summary,
                                                    const std::string& surrogate_help) {
  OptionBinding<RetrainingOptions> b(component);
  b.describe(summary)
      .text(WMARK_OPTION_FIELD(surrogate), surrogate_help)
      .integer(WMARK_OPTION_FIELD(budget), "images of the thief's data sent to the victim (0 = all)", 0, 100000000)
      .boolean(WMARK_OPTION_FIELD(soft_labels), "train on the victim's class probabilities, not its labels")
      .integer(WMARK_OPTION_FIELD(epochs), "training epochs of the surrogate", 1, 10000)
      .boolean(WMARK_OPTION_FIELD(check_own_labels), "drop the victim's answers that disagree with the thief's own "
               "labels of its images");
  declare_votes(b);
  return declare_optimizer(b, "the surrogate's")
      .boolean(WMARK_OPTION_FIELD(augment), "random crops and flips of the thief's images");
}

AttackResult retrain(Network& victim, const AttackContext& context, const RetrainingOptions& o,
                     const std::string& arch, const std::string& attack) {
  const auto queries = choose_queries(context.data, o.budget(), context.seed, attack);
  auto asking = voting_of(o);
  asking.check_own_labels = o.check_own_labels();
  const auto answers = ask_victim(victim, context, queries, o.soft_labels(), attack, asking);
  auto training = attack_training(context.training, o.optimizer(), o.lr(), o.epochs(), context.seed, attack)
                      .augment(o.augment());
  auto result = train_surrogate(fresh_surrogate(context, arch, attack), arch, answers, training, context);
  result.details["votes"] = o.votes();
  result.details["asked"] = queries.size();
  return result;
}

}  // namespace

const OptionBinding<RetrainingOptions>& RetrainingAttack::declared_options() {
  static const auto binding =
      declare_retraining("the retraining attack",
                         "Train a fresh model of the victim's architecture on the victim's answers to the thief's data",
                         "the surrogate's architecture (empty or the victim's)");
  return binding;
}

RetrainingAttack::RetrainingAttack(RetrainingOptions options) : options_(declared_options().checked(options)) {}

nlohmann::json RetrainingAttack::options() const { return declared_options().write(options_); }

AttackResult RetrainingAttack::run(Network& victim, const AttackContext& context) const {
  WMARK_CHECK(options_.surrogate().empty() || options_.surrogate() == context.arch, "retraining keeps the victim's "
              "architecture (", context.arch, "); for a '", options_.surrogate(),
              "' surrogate use cross-architecture-retraining");
  return retrain(victim, context, options_, context.arch, "retraining");
}

const OptionBinding<RetrainingOptions>& CrossArchitectureRetrainingAttack::declared_options() {
  static const auto binding = declare_retraining(
      "the cross-architecture-retraining attack",
      "Train a fresh model of another architecture on the victim's answers to the thief's data",
      "the surrogate's architecture, not the victim's (default: cifar_cnn for mnist_cnn and resnet18, resnet18 for "
      "cifar_cnn)");
  return binding;
}

CrossArchitectureRetrainingAttack::CrossArchitectureRetrainingAttack(RetrainingOptions options)
    : options_(declared_options().checked(options)) {}

nlohmann::json CrossArchitectureRetrainingAttack::options() const { return declared_options().write(options_); }

AttackResult CrossArchitectureRetrainingAttack::run(Network& victim, const AttackContext& context) const {
  static const std::map<std::string, std::string> defaults{
      {"mnist_cnn", "cifar_cnn"}, {"resnet18", "cifar_cnn"}, {"cifar_cnn", "resnet18"}};
  auto arch = options_.surrogate();
  if (arch.empty()) {
    const auto it = defaults.find(context.arch);
    WMARK_CHECK(it != defaults.end(), "cross-architecture-retraining: no default surrogate for a '", context.arch,
                "' victim; name one with the surrogate option");
    arch = it->second;
  }
  WMARK_CHECK(arch != context.arch, "cross-architecture-retraining needs a surrogate architecture other than the "
              "victim's (", context.arch, "); use retraining for the same one");
  return retrain(victim, context, options_, arch, "cross-architecture-retraining");
}

}  // namespace wmark
