// "dawn": DAWN's answers as a key (serve/dawn.h). The scheme marks a server's answers,
// not a model: its keys come from the server's log (dawn_proof_key), and embedding
// refuses with the commands that do it.
#include <set>
#include <string>

#include <torch/torch.h>

#include "../derivation_support.h"
#include "builtin_schemes.h"
#include "wmark/serve/dawn.h"
#include "wmark/util/error.h"

namespace wmark::schemes {
namespace {

using json = nlohmann::json;

class DawnScheme final : public Scheme {
 public:
  explicit DawnScheme(const json& options) : options_(schema().read(options)) {}

  std::string name() const override { return "dawn"; }

  // No options: the rate is the server key's (`wmark dawn init --rate`).
  OptionSchema schema() const override { return OptionSchema("the dawn scheme"); }

  json options() const override { return options_; }
  KeyKind key_kind() const override { return KeyKind::black_box; }
  bool marks_model() const override { return false; }

  EmbedResult embed(const EmbedRequest&) const override {
    WMARK_FAIL("dawn marks a server's answers, not a model: create a server key with `wmark dawn init`, serve with "
               "`wmark serve --dawn KEY --dawn-log LOG`, and make the proof key with `wmark dawn key` (docs/dawn.md)");
  }

  // An answer that is the victim's own class can never be the changed one, and a good
  // model of the task gives it most of the time: counted, such answers would only dilute
  // the test. Among the other answers the changed class, a keyed uniform draw from the
  // C-1 classes other than the victim's, is a model's answer with chance exactly 1/(C-1).
  at::Tensor counted_queries(const WatermarkKey& key, const at::Tensor& queried, const at::Tensor& answers) const override {
    WMARK_CHECK(key.tensors.count("model_labels"), "a DAWN server key holds no answers; prove with the key made from its log");
    const auto own = key.tensor("model_labels").index_select(0, queried.cpu().to(torch::kLong));
    return answers.to(torch::kLong).cpu().ne(own);
  }

  // A surrogate trained briefly learns the true class of a changed answer and seldom
  // gives the changed class itself, but ranks it above the other wrong classes
  // (docs/results.md). Under the null the changed class is a keyed uniform draw among
  // the C-1 classes other than the model's, independent of the suspect, so its rank among
  // those is uniform on 0..C-2 (ties and NaN counted against it: larger, never smaller).
  bool reads_scores() const override { return true; }
  std::int64_t score_rank_levels(std::int64_t num_classes) const override { return num_classes - 1; }

  at::Tensor score_ranks(const WatermarkKey& key, const at::Tensor& queried, const at::Tensor& scores) const override {
    WMARK_CHECK(key.tensors.count("model_labels"), "a DAWN server key holds no answers; prove with the key made from its log");
    WMARK_CHECK(scores.dim() == 2 && scores.size(0) == queried.size(0) && scores.size(1) == key.num_classes,
                "DAWN's score test needs [", queried.size(0), ", ", key.num_classes, "] class scores, got ",
                scores.sizes());
    const auto index = queried.cpu().to(torch::kLong);
    const auto served = key.tensor("labels").index_select(0, index).unsqueeze(1);
    const auto own = key.tensor("model_labels").index_select(0, index).unsqueeze(1);
    const auto all = scores.cpu().to(torch::kFloat);
    const auto served_score = all.gather(1, served);
    // The classes that are neither the served nor the model's own, scored at least as
    // high as the served one: "not below" is true when either side is NaN.
    auto ahead = all.lt(served_score).logical_not();
    ahead.scatter_(1, served, false).scatter_(1, own, false);
    return ahead.sum(1).to(torch::kLong).clamp_max(key.num_classes - 2);
  }

  // The served class is the model's shifted by a keyed 1..C-1: a model never trained on
  // the answers gives it for one of C-1 wrong classes at best.
  double chance_rate(const json&, std::int64_t num_classes) const override {
    return 1.0 / static_cast<double>(num_classes - 1);
  }
  // The shift is the secret's, independent of any model that never saw the answers: the
  // rate is exact, not a floor, and the binomial test needs no match-rate guard.
  bool exact_chance_rate() const override { return true; }

  // Which inputs were changed and how is recomputed from the secret; the inputs
  // themselves are the clients' queries, so the key is not derivable.
  KeyDerivation check_derivation(const WatermarkKey& key, const std::optional<std::filesystem::path>&) const override {
    if (!key.tensors.count("images") || !key.tensors.count("model_labels"))
      return derivation::not_derivable("a DAWN server key holds no answers; prove with the key made from its log");
    const DawnChooser chooser(key);
    const auto& images = key.tensor("images");
    const auto& labels = key.tensor("labels");
    const auto& model_labels = key.tensor("model_labels");
    std::set<std::string> buckets;
    for (std::int64_t k = 0; k < images.size(0); ++k) {
      auto bucket = chooser.bucket(images[k]);
      const auto choice = chooser.choice_of(bucket);
      if (!choice.changed || labels[k].item<std::int64_t>() != choice.served(model_labels[k].item<std::int64_t>(), key.num_classes))
        return derivation::not_derivable("answer " + std::to_string(k) + " is not one the key's secret changes");
      // Answers of one bucket share one keyed shift: counted twice, they would not be
      // independent trials.
      if (!buckets.insert(std::move(bucket)).second)
        return derivation::not_derivable("answer " + std::to_string(k) + " shares its bucket with an earlier one");
    }
    return derivation::not_derivable(
        "every answer is one the secret changes, but the inputs are the clients' queries, not derived from the "
        "secret: the key proves ownership only with a time stamp from before the suspect existed");
  }

 private:
  json options_;
};

}  // namespace

std::unique_ptr<Scheme> make_dawn(const json& options) { return std::make_unique<DawnScheme>(options); }

}  // namespace wmark::schemes
