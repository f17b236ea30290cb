// Target-label keys carry control images (trigger_generator.h control_images): a suspect
// that answers the target class to everything must not verify them.
#include <catch2/catch.hpp>

#include <cmath>
#include <random>
#include <set>

#include <torch/torch.h>

#include "../support/test_support.h"
#include "../support/watermarked_fixture.h"
#include "wmark/attack/input_transform.h"
#include "wmark/util/error.h"
#include "wmark/verify/statistics.h"
#include "wmark/verify/verifier.h"

using namespace wmark;

namespace {

// The same answer to every input: a model collapsed onto one class, or built to be.
class AlwaysOneClass : public Classifier {
 public:
  explicit AlwaysOneClass(std::int64_t label) : label_(label) {}
  at::Tensor classify(const at::Tensor& images) override {
    queries_ += images.size(0);
    return torch::full({images.size(0)}, label_, torch::kLong);
  }
  std::string describe() const override { return "constant"; }

 private:
  std::int64_t label_;
};

// A model behind an input transform (pixels to [0,1], transformed, back to 8 bits).
class BehindTransform : public Classifier {
 public:
  BehindTransform(Classifier& inner, std::shared_ptr<InputTransform> transform) : inner_(inner), transform_(transform) {}
  at::Tensor classify(const at::Tensor& images) override {
    queries_ += images.size(0);
    const auto pixels = transform_->apply(images.to(torch::kFloat) / 255.0);
    return inner_.classify((pixels * 255.0).round().clamp(0, 255).to(torch::kUInt8));
  }
  std::string describe() const override { return "transformed"; }

 private:
  Classifier& inner_;
  std::shared_ptr<InputTransform> transform_;
};

// A thief who guesses which queries are controls by position: the marked model's own
// answers for the first `honest` images of a batch, the target class after them (where
// a verifier that appended its controls would have put them).
class PositionalThief : public Classifier {
 public:
  PositionalThief(Classifier& inner, std::int64_t honest, std::int64_t target) : inner_(inner), honest_(honest), target_(target) {}
  at::Tensor classify(const at::Tensor& images) override {
    queries_ += images.size(0);
    auto answers = inner_.classify(images).to(torch::kLong).cpu().clone();
    if (answers.size(0) > honest_) answers.slice(0, honest_).fill_(target_);
    return answers;
  }
  std::string describe() const override { return "positional"; }

 private:
  Classifier& inner_;
  std::int64_t honest_, target_;
};

}  // namespace

TEST_CASE("Fisher's exact test gives the textbook values and keeps its level", "[verify]") {
  // The lady tasting tea: 3 of 4 right against 1 of 4 is 17/70; all 4 is 1/70.
  CHECK(std::pow(10.0, fisher_exact_greater_log10(3, 4, 1, 4)) == Approx(17.0 / 70));
  CHECK(std::pow(10.0, fisher_exact_greater_log10(4, 4, 0, 4)) == Approx(1.0 / 70));
  CHECK(fisher_exact_greater_log10(0, 10, 5, 10) == 0.0);
  CHECK(fisher_exact_greater_log10(10, 10, 20, 20) == 0.0);  // the same rate (1): no evidence
  // 50 of 50 triggers against 0 of 100 controls: 1 / C(150, 50).
  const double log10_choose = (std::lgamma(151.0) - std::lgamma(51.0) - std::lgamma(101.0)) / std::log(10.0);
  CHECK(fisher_exact_greater_log10(50, 50, 0, 100) == Approx(-log10_choose));
  CHECK_THROWS_AS(fisher_exact_greater_log10(5, 4, 0, 4), Error);
  CHECK_THROWS_AS(fisher_exact_greater_log10(1, 4, -1, 4), Error);
  CHECK_THROWS_AS(fisher_exact_greater_log10(1, kMaxFisherCount, 0, 1), Error);

  // Under the null hypothesis (one rate for both groups, however high) it rejects at
  // most as often as its level: 4000 draws at rate 0.9, 20 triggers against 40 controls.
  std::mt19937_64 rng(11);
  std::bernoulli_distribution answer(0.9);
  int rejected = 0;
  const int draws = 4000;
  for (int i = 0; i < draws; ++i) {
    int k1 = 0, k2 = 0;
    for (int j = 0; j < 20; ++j) k1 += answer(rng);
    for (int j = 0; j < 40; ++j) k2 += answer(rng);
    rejected += fisher_exact_greater_log10(k1, 20, k2, 40) < std::log10(0.05);
  }
  CHECK(rejected < 0.05 * draws);
}

TEST_CASE("a suspect that answers the target class to everything does not verify a target-label key",
          "[verify][adversary]") {
  const auto& f = test::watermarked_mnist();
  const auto& key = f.key;
  REQUIRE(key.params["label_policy"] == "target");
  const auto target = key.params["target_label"].get<std::int64_t>();
  const auto triggers = key.tensor("labels").size(0);
  const auto& controls = key.tensor("control_images");
  CHECK(controls.size(0) == triggers + 20);
  const Verifier verifier;

  // The marked model: its triggers get the target class, the unmarked controls rarely.
  ModuleClassifier marked(f.model, key.normalization, "marked");
  const auto owned = verifier.verify(marked, key);
  CHECK(owned.verified);
  CHECK(owned.control["queries"] == controls.size(0));
  CHECK(owned.control["target_rate"].get<double>() < 0.1);
  CHECK(owned.log10_p_value < -20);

  // The hazard: every trigger matches, and the binomial test at 1/10 alone would claim it.
  AlwaysOneClass collapsed(target);
  const auto constant = verifier.verify(collapsed, key);
  CHECK(constant.match_rate == 1.0);
  CHECK(constant.control["binomial_log10_p_value"].get<double>() < -40);
  CHECK(constant.control["target_rate"] == 1.0);
  CHECK_FALSE(constant.verified);
  CHECK(constant.log10_p_value == 0.0);
  CHECK(constant.to_json()["control"]["target_answers"] == controls.size(0));

  // The real case: the marked model behind heavy input noise (sd 1 on [0,1] pixels)
  // answers almost anything with one class; it has lost its usefulness, and its answers
  // to the triggers are no evidence, whichever class that is.
  auto noise = input_transform_registry().create("input-noising", {{"std", 1.0}});
  BehindTransform noisy(marked, std::move(noise));
  const auto drowned = verifier.verify(noisy, key);
  CHECK_FALSE(drowned.verified);
  INFO("noisy suspect: " << drowned.to_json().dump());
  CHECK(std::abs(drowned.match_rate - drowned.control["target_rate"].get<double>()) < 0.3);

  // A thief who answers the target class where appended controls would sit (making their
  // rate 1, as above) cannot find them: shuffled among the triggers, only about 58% of
  // them get it (sd 4%), at the price of 58% of all answers, and the triggers still stand
  // out (log10 p about -7.5 with these 50 triggers against 70 controls; above -2.5 less
  // than once in 10^6 orders).
  PositionalThief thief(marked, triggers, target);
  const auto positional = verifier.verify(thief, key);
  CHECK(positional.control["target_rate"].get<double>() > 0.4);
  CHECK(positional.control["target_rate"].get<double>() < 0.85);
  CHECK(positional.log10_p_value < -2.5);
  // A query budget counts every image sent, triggers and controls in the key's proportion.
  const auto budget = Verifier(VerifierOptions().max_queries(60)).verify(marked, key);
  CHECK(budget.queries == 25);
  CHECK(budget.control["queries"] == 35);
  CHECK(budget.queried_triggers.size() == 25);
  CHECK_THROWS_WITH(Verifier(VerifierOptions().max_queries(1)).verify(marked, key), Catch::Contains("budget of 1"));
}

TEST_CASE("a target-label key's control images are derived from its secret, not chosen", "[verify][adversary]") {
  const auto& f = test::watermarked_mnist();
  const auto strict = Verifier(VerifierOptions().require_derivable_key(true).data_dir(test::shared_data()));
  ModuleClassifier marked(f.model, f.key.normalization, "marked");
  REQUIRE(strict.verify(marked, f.key).key_derivation == "derived");

  // A false accuser's controls: images the suspect is sure are not the target class make
  // any suspect's target answers look like a mark. They are not what the secret derives.
  auto chosen = f.key;
  const auto target = chosen.params["target_label"].get<std::int64_t>();
  const auto others = f.test.images.index_select(0, torch::nonzero(f.test.labels.ne(target)).squeeze(1));
  chosen.tensors["control_images"] = others.slice(0, 0, chosen.tensor("control_images").size(0)).clone();
  const auto refused = strict.verify(marked, chosen);
  CHECK_FALSE(refused.verified);
  CHECK_THAT(refused.key_derivation, Catch::Contains("control images are not the ones its secret derives"));

  // A key without them (made before keys had them) is decided on the binomial test alone
  // and says so; control images on a random-label key, or malformed, are refused.
  auto bare = f.key;
  bare.tensors.erase("control_images");
  const auto old = Verifier().verify(marked, bare);
  CHECK(old.verified);
  CHECK_THAT(old.control["missing"].get<std::string>(), Catch::Contains("answers the target class to every input"));
  auto random_labels = f.key;
  random_labels.params["label_policy"] = "random";
  CHECK_THROWS_WITH(Verifier().verify(marked, random_labels), Catch::Contains("target-label"));
  auto no_target = f.key;
  no_target.params["target_label"] = 10;
  CHECK_THROWS_WITH(Verifier().verify(marked, no_target), Catch::Contains("target label in [0, 10)"));
  auto misshapen = f.key;
  misshapen.tensors["control_images"] = torch::zeros({3, 1, 8, 8}, torch::kUInt8);
  CHECK_THROWS_WITH(Verifier().verify(marked, misshapen), Catch::Contains("control images"));
}
