#include "extraction.h"

#include <vector>

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

namespace {

// One round of answers: labels, and with `soft` the class probabilities.
Dataset ask_once(Network& victim, const AttackContext& context, Dataset queries, bool soft,
                 const std::string& attack) {
  const auto device = context.training.device();
  if (context.victim_endpoint) {
    auto& endpoint = *context.victim_endpoint;
    const auto classes = queries.num_classes;
    if (!soft) {
      queries.labels = endpoint.classify(queries.images);
      queries.soft_labels = at::Tensor();
    } else {
      auto answers = endpoint.answer(queries.images);
      WMARK_CHECK(answers.scores.defined(), attack, ": soft labels need the victim's class scores, and ",
                  endpoint.describe(), " answers with labels only; use hard labels");
      WMARK_CHECK(answers.scores.size(1) == classes, attack, ": ", endpoint.describe(), " answered ",
                  answers.scores.size(1), " class scores per image for a task of ", classes, " classes");
      queries.labels = answers.labels;
      queries.soft_labels = as_probabilities(answers.scores);
    }
    // A served answer is the thief's training target: a class outside the task is refused here.
    WMARK_CHECK(queries.size() == 0 || (queries.labels.min().item<std::int64_t>() >= 0 &&
                                        queries.labels.max().item<std::int64_t>() < classes),
                attack, ": ", endpoint.describe(), " answered a class outside 0..", classes - 1);
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

// `images` (uint8 [N,C,H,W]) with one pixel of each, drawn from `generator`, moved by one
// level (down at 255): to the model the same image, to a server that keys its answers on
// the exact pixels (DAWN) another query.
at::Tensor nudge_one_pixel(const at::Tensor& images, at::Generator generator) {
  auto flat = images.reshape({images.size(0), -1}).clone();
  if (flat.numel() == 0) return flat.view(images.sizes());
  const auto where = torch::randint(flat.size(1), {flat.size(0), 1}, generator, torch::kLong);
  const auto level = flat.gather(1, where).to(torch::kInt);
  flat.scatter_(1, where, torch::where(level.eq(255), level - 1, level + 1).to(images.scalar_type()));
  return flat.view(images.sizes());
}

// `images` with Gaussian noise of standard deviation `sigma` (pixel range units) on every
// pixel, rounded and clamped to levels.
at::Tensor add_noise(const at::Tensor& images, double sigma, at::Generator generator) {
  const auto noise = torch::randn(images.sizes(), generator, torch::kFloat) * (sigma * 255.0);
  return (images.to(torch::kFloat) + noise).round().clamp(0, 255).to(images.scalar_type());
}

// Each image moved by one pixel in a direction drawn from `generator` (up, down, left,
// right), the edge row or column repeated.
at::Tensor shift_one_pixel(const at::Tensor& images, at::Generator generator) {
  auto out = images.clone();
  if (images.size(0) == 0) return out;
  const auto direction = torch::randint(4, {images.size(0)}, generator, torch::kLong);
  const auto h = images.size(2), w = images.size(3);
  for (std::int64_t d = 0; d < 4; ++d) {
    const auto rows = direction.eq(d).nonzero().squeeze(1);
    if (rows.numel() == 0) continue;
    const auto x = images.index_select(0, rows);
    const auto dim = d < 2 ? 2 : 3;
    const auto size = d < 2 ? h : w;
    // d even: content moves towards higher indices (down, right); odd: towards lower.
    const auto moved = d % 2 == 0 ? torch::cat({x.narrow(dim, 0, 1), x.narrow(dim, 0, size - 1)}, dim)
                                  : torch::cat({x.narrow(dim, 1, size - 1), x.narrow(dim, size - 1, 1)}, dim);
    out.index_copy_(0, rows, moved);
  }
  return out;
}

at::Tensor near_twin(const at::Tensor& images, const VoteOptions& voting, at::Generator generator) {
  if (voting.twin == "noise") return add_noise(images, voting.noise, generator);
  if (voting.twin == "shift") return shift_one_pixel(images, generator);
  WMARK_CHECK(voting.twin == "nudge", "unknown vote twin '", voting.twin, "' (nudge, noise or shift)");
  return nudge_one_pixel(images, generator);
}

// The answers to `queries`, each image asked `voting.votes` times (ask_victim), and
// which images a unanimous voter keeps (all of them otherwise).
std::pair<Dataset, at::Tensor> vote(Network& victim, const AttackContext& context, const Dataset& queries, bool soft,
                                    const std::string& attack, const VoteOptions& voting) {
  auto first = ask_once(victim, context, queries, soft, attack);
  auto keep = torch::ones({queries.size()}, torch::kBool);
  if (voting.votes == 1 || queries.size() == 0) return {first, keep};
  std::vector<at::Tensor> labels{first.labels}, probabilities{first.soft_labels};
  auto generator = make_generator(derive_seed(context.seed, attack + "-votes"));
  for (std::int64_t round = 1; round < voting.votes; ++round) {
    auto twins = queries;
    twins.images = near_twin(queries.images, voting, generator);
    const auto answers = ask_once(victim, context, twins, soft, attack);
    labels.push_back(answers.labels);
    probabilities.push_back(answers.soft_labels);
  }
  const auto all = torch::stack(labels);  // [votes, N], each in 0..classes-1 (ask_once)
  if (voting.unanimous) {
    if (soft) first.soft_labels = torch::stack(probabilities).mean(0);
    return {first, all.eq(first.labels.unsqueeze(0)).all(0)};
  }
  const auto classes = queries.num_classes;
  // Twice the votes, plus one for the unchanged image's answer: ties go to it.
  const auto tally = torch::one_hot(all, classes).sum(0) * 2 + torch::one_hot(first.labels, classes);
  first.labels = tally.argmax(1);
  if (soft) {
    const auto agree = all.eq(first.labels.unsqueeze(0)).to(torch::kFloat).unsqueeze(2);  // [votes, N, 1]
    first.soft_labels = (torch::stack(probabilities) * agree).sum(0) / agree.sum(0);
  }
  return {first, keep};
}

}  // namespace

Dataset ask_victim(Network& victim, const AttackContext& context, Dataset queries, bool soft,
                   const std::string& attack, const VoteOptions& voting) {
  WMARK_CHECK(voting.votes >= 1, attack, ": votes must be at least 1, got ", voting.votes);
  auto [answers, keep] = vote(victim, context, queries, soft, attack, voting);
  if (voting.check_own_labels && queries.size() > 0) {
    WMARK_CHECK(queries.labels.defined() && queries.labels.size(0) == queries.size(), attack,
                ": the thief's images have no labels of their own to check the answers against");
    keep = keep.logical_and(answers.labels.eq(queries.labels));
  }
  if (keep.all().item<bool>()) return answers;
  return answers.select(keep.nonzero().squeeze(1));
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
