#include "wmark/attack/knockoff.h"

#include <torch/torch.h>

#include "attack_options.h"
#include "extraction.h"
#include "wmark/data/catalog.h"
#include "wmark/util/error.h"

namespace wmark {

const OptionBinding<KnockoffOptions>& KnockoffAttack::declared_options() {
  static const auto binding = [] {
    OptionBinding<KnockoffOptions> b("the knockoff attack");
    b.describe("Query the victim with another dataset's images and train a fresh model on its answers")
        .text(WMARK_OPTION_FIELD(query_dataset), "dataset the queries come from (its training split)",
              dataset_names())
        .integer(WMARK_OPTION_FIELD(budget), "queries sent to the victim", 1, 100000000)
        .boolean(WMARK_OPTION_FIELD(soft_labels), "train on the victim's class probabilities, not its labels")
        .text(WMARK_OPTION_FIELD(surrogate), "the surrogate's architecture (default: the victim's)")
        .integer(WMARK_OPTION_FIELD(epochs), "training epochs of the surrogate", 1, 10000);
    declare_votes(b);
    return declare_optimizer(b, "the surrogate's")
        .boolean(WMARK_OPTION_FIELD(augment), "random crops and flips of the query images");
  }();
  return binding;
}

KnockoffAttack::KnockoffAttack(KnockoffOptions options) : options_(declared_options().checked(options)) {}

nlohmann::json KnockoffAttack::options() const { return declared_options().write(options_); }

AttackResult KnockoffAttack::run(Network& victim, const AttackContext& context) const {
  const auto& own = context.data;
  auto pool = foreign_images(options_.query_dataset(), context);
  pool.num_classes = own.num_classes;  // the victim's answers label them
  const auto queries = choose_queries(pool, options_.budget(), context.seed, "knockoff");
  const auto answers = ask_victim(victim, context, queries, options_.soft_labels(), "knockoff", voting_of(options_));

  auto training = attack_training(context.training, options_.optimizer(), options_.lr(), options_.epochs(),
                                  context.seed, "knockoff").augment(options_.augment());
  auto result = train_surrogate(fresh_surrogate(context, options_.surrogate(), "knockoff"), options_.surrogate(),
                                answers, training, context);
  const auto counts = torch::bincount(answers.labels, {}, own.num_classes);
  result.details["query_dataset"] = pool.name;
  result.details["votes"] = options_.votes();
  result.details["asked"] = queries.size();
  result.details["query_class_spread"] =
      counts.max().item<double>() / static_cast<double>(std::max<std::int64_t>(1, answers.size()));
  return result;
}

}  // namespace wmark
