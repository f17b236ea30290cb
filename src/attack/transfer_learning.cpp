#include "wmark/attack/transfer_learning.h"

#include <torch/torch.h>

#include "attack_options.h"
#include "extraction.h"
#include "wmark/attack/finetune.h"
#include "wmark/data/catalog.h"
#include "wmark/train/trainer.h"
#include "wmark/util/error.h"
#include "wmark/util/random.h"

namespace wmark {

const OptionBinding<TransferLearningOptions>& TransferLearningAttack::declared_options() {
  static const auto binding = [] {
    OptionBinding<TransferLearningOptions> b("the transfer-learning attack");
    b.describe("Pretrain a network on another task, replace its output layer and train it on the victim's answers")
        .text(WMARK_OPTION_FIELD(parent_dataset), "dataset the thief's parent network is pretrained on",
              dataset_names())
        .integer(WMARK_OPTION_FIELD(parent_images), "images of it the parent is pretrained on (0 = all)", 0,
                 100000000)
        .integer(WMARK_OPTION_FIELD(parent_epochs), "pretraining epochs of the parent", 1, 10000)
        .text(WMARK_OPTION_FIELD(surrogate), "the parent's architecture (default: the victim's)")
        .integer(WMARK_OPTION_FIELD(budget), "images of the thief's data sent to the victim (0 = all)", 0, 100000000)
        .boolean(WMARK_OPTION_FIELD(soft_labels), "train on the victim's class probabilities, not its labels")
        .integer(WMARK_OPTION_FIELD(frozen_epochs), "epochs training the new output layer alone", 0, 10000)
        .integer(WMARK_OPTION_FIELD(epochs), "epochs training the whole network afterwards", 1, 10000);
    return declare_optimizer(b, "every phase's")
        .boolean(WMARK_OPTION_FIELD(augment), "random crops and flips of the images trained on");
  }();
  return binding;
}

TransferLearningAttack::TransferLearningAttack(TransferLearningOptions options)
    : options_(declared_options().checked(options)) {}

nlohmann::json TransferLearningAttack::options() const { return declared_options().write(options_); }

AttackResult TransferLearningAttack::run(Network& victim, const AttackContext& context) const {
  const std::string attack = "transfer-learning";
  // The victim first: a refused endpoint fails before any training.
  const auto queries = choose_queries(context.data, options_.budget(), context.seed, attack);
  const auto answers = ask_victim(victim, context, queries, options_.soft_labels(), attack);

  const auto pool = foreign_images(options_.parent_dataset(), context);
  WMARK_CHECK(pool.num_classes == context.data.num_classes, attack, ": the parent dataset '", pool.name, "' has ",
              pool.num_classes, " classes and the victim ", context.data.num_classes,
              "; the parent is built with the victim's output layer");
  WMARK_CHECK(options_.parent_images() <= pool.size(), attack, ": parent_images ", options_.parent_images(),
              " exceeds the ", pool.size(), " training images of '", pool.name, "'");
  const auto parent_data = choose_queries(pool, options_.parent_images(), context.seed, attack + "-parent");

  const auto training = [&](std::int64_t epochs, const std::string& purpose) {
    return attack_training(context.training, options_.optimizer(), options_.lr(), epochs, context.seed, purpose)
        .augment(options_.augment());
  };
  auto model = fresh_surrogate(context, options_.surrogate(), attack);
  model->to(context.training.device());
  const auto parent = Trainer(model, training(options_.parent_epochs(), attack + "-parent")).fit(parent_data);

  // The transfer: a new output layer for the victim's task, trained alone, then everything.
  const auto output = reinitialize_output_layer(*model, context.data.num_classes, derive_seed(context.seed, attack));
  if (options_.frozen_epochs() > 0) {
    train_only_output_layer(*model, output);
    Trainer(model, training(options_.frozen_epochs(), attack + "-head")).fit(answers);
    for (auto& p : model->parameters()) p.set_requires_grad(true);
  }
  auto result = train_surrogate(model, options_.surrogate(), answers, training(options_.epochs(), attack), context);
  result.details["parent_dataset"] = pool.name;
  result.details["parent_images"] = parent_data.size();
  result.details["parent_train_accuracy"] = parent.history.empty() ? 0.0 : parent.history.back().train_accuracy;
  result.details["output_layer"] = output;
  return result;
}

}  // namespace wmark
