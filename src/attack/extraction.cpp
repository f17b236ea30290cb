#include "extraction.h"

#include <torch/torch.h>

#include "wmark/data/catalog.h"
#include "wmark/data/image_convert.h"
#include "wmark/train/evaluate.h"
#include "wmark/train/trainer.h"
#include "wmark/util/error.h"
#include "wmark/util/random.h"
#include "wmark/verify/classifier.h"

namespace wmark {

Dataset choose_queries(const Dataset& pool, std::int64_t budget, std::uint64_t seed, const std::string& attack) {
  WMARK_CHECK(budget >= 0, attack, ": the query budget must not be negative, got ", budget);
  WMARK_CHECK(budget <= pool.size(), attack, ": a budget of ", budget, " queries exceeds the ", pool.size(),
              " images the thief holds in '", pool.name, "'");
  if (budget == 0 || budget == pool.size()) return pool;
  auto generator = make_generator(derive_seed(seed, attack + "-queries"));
  return pool.select(torch::randperm(pool.size(), generator, torch::kLong).narrow(0, 0, budget));
}

Dataset foreign_images(const std::string& name, const AttackContext& context) {
  const auto& own = context.data;
  const bool in_own_folder = context.data_dir && locate_dataset(name, context.data_dir);
  auto pool = load_training_split(name, in_own_folder ? context.data_dir : std::nullopt);
  // They look like the thief's inputs and are normalised as its own data.
  pool.images = convert_images(pool.images, own.shape());
  pool.normalization = own.normalization;
  return pool;
}

at::Tensor as_probabilities(const at::Tensor& scores) {
  const auto x = scores.to(torch::kFloat);
  if (x.size(0) == 0) return x;
  WMARK_CHECK(x.isfinite().all().item<bool>(), "the victim answered scores that are not finite numbers");
  // A row of non-negative values summing to 1 is already a distribution; anything else
  // is taken as logits.
  const bool distribution = x.ge(0).all().item<bool>() && (x.sum(1) - 1).abs().max().item<float>() < 1e-3f;
  return distribution ? x : torch::softmax(x, 1);
}

Dataset ask_victim(Network& victim, const AttackContext& context, Dataset queries, bool soft,
                   const std::string& attack) {
  const auto device = context.training.device();
  if (context.victim_endpoint) {
    if (!soft) {
      queries.labels = context.victim_endpoint->classify(queries.images);
      queries.soft_labels = at::Tensor();
      return queries;
    }
    auto answers = context.victim_endpoint->answer(queries.images);
    WMARK_CHECK(answers.scores.defined(), attack, ": soft labels need the victim's class scores, and ",
                context.victim_endpoint->describe(), " answers with labels only; use hard labels");
    queries.labels = answers.labels;
    queries.soft_labels = as_probabilities(answers.scores);
    return queries;
  }
  if (soft) {
    queries.soft_labels =
        predict_probabilities(victim, queries.images, queries.normalization, device, context.training.eval_batch_size());
    queries.labels = queries.soft_labels.argmax(1);
  } else {
    queries.labels =
        predict_labels(victim, queries.images, queries.normalization, device, context.training.eval_batch_size());
    queries.soft_labels = at::Tensor();
  }
  return queries;
}

NetworkPtr fresh_surrogate(const AttackContext& context, const std::string& arch, const std::string& attack) {
  const bool same_arch = arch.empty() || arch == context.arch;
  WMARK_CHECK(same_arch || context.make_arch, attack, ": cannot build a '", arch,
              "' surrogate without a model registry in the attack context");
  // Registry factories draw initial weights from the global generator; seed it from the attack seed.
  torch::manual_seed(derive_seed(context.seed, attack + "-student-init"));
  auto surrogate = same_arch ? context.make_model() : context.make_arch(arch);
  WMARK_CHECK(surrogate, attack, ": the model factory returned no surrogate");
  return surrogate;
}

AttackResult train_surrogate(NetworkPtr surrogate, const std::string& arch, const Dataset& answers,
                             const TrainerOptions& training, const AttackContext& context) {
  const auto device = context.training.device();
  surrogate->to(device);
  Trainer(surrogate, training).fit(answers);
  AttackResult result;
  result.model = surrogate;
  result.arch = arch.empty() ? context.arch : arch;
  const double agreement = predict_labels(*surrogate, answers.images, answers.normalization, device)
                               .eq(answers.labels).to(torch::kDouble).mean().item<double>();
  result.details = {{"surrogate", result.arch},
                    {"queries", answers.size()},
                    {"soft_labels", answers.soft_labels.defined()},
                    {"agreement", agreement}};
  return result;
}

}  // namespace wmark
