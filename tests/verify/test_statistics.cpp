#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <random>
#include <set>
#include <vector>

#include "wmark/verify/statistics.h"
#include "wmark/verify/verifier.h"
#include "wmark/util/error.h"
#include "wmark/watermark/scheme.h"
#include "wmark/watermark/trigger/trigger_generator.h"

#include <torch/torch.h>

using namespace wmark;

TEST_CASE("binomial upper tails match exact values", "[verify]") {
  // P[X >= 8], X ~ Bin(10, 1/2) = (45 + 10 + 1) / 1024.
  CHECK(binomial_upper_tail(8, 10, 0.5) == Approx(56.0 / 1024.0).epsilon(1e-12));
  CHECK(binomial_upper_tail(0, 10, 0.3) == 1.0);
  CHECK(binomial_upper_tail(11, 10, 0.3) == 0.0);
  CHECK(binomial_upper_tail(1, 5, 0.2) == Approx(1 - std::pow(0.8, 5)).epsilon(1e-12));
  // All 100 triggers at chance 1/10: exactly 1e-100.
  CHECK(binomial_upper_tail_log10(100, 100, 0.1) == Approx(-100.0).epsilon(1e-12));
  // Far below double's range the exponent survives.
  CHECK(binomial_upper_tail_log10(1000, 1000, 0.1) == Approx(-1000.0).epsilon(1e-12));
  CHECK(binomial_upper_tail(1000, 1000, 0.1) == 0.0);
}

TEST_CASE("binomial tails of any size come back at once, exact or conservative", "[verify]") {
  // A hostile claim with 4e18 queries once made the tail loop run for ever: refused at
  // once now; the largest exact counts come back in milliseconds.
  const auto t0 = std::chrono::steady_clock::now();
  CHECK_THROWS_WITH(binomial_upper_tail_log10(3000000000000000000, 4000000000000000000, 0.5), Catch::Contains("2^53"));
  const std::int64_t n_max = kMaxBinomialCount;
  const double half = binomial_upper_tail_log10(n_max / 2, n_max, 0.5);
  const double far = binomial_upper_tail_log10(n_max / 4 * 3, n_max, 0.5);
  const double near_mean = binomial_upper_tail_log10(n_max / 10 + 300000000, n_max, 0.1);
  CHECK(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() < 2.0);
  CHECK(half == Approx(std::log10(0.5)).margin(0.001));
  CHECK(far < -1e14);  // astronomically small, exponent intact
  CHECK(near_mean < 0);
  CHECK(near_mean > -300);
  // Where the exact summation hands over to the incomplete beta, the two agree:
  // n - k just below and just above the hand-over, k at mean + 3 sd.
  for (const std::int64_t n : {std::int64_t{1000500}, std::int64_t{1001500}}) {
    const double mean = 0.5 * double(n), sd = std::sqrt(0.25 * double(n));
    const auto k = static_cast<std::int64_t>(mean + 3 * sd);
    // P[Z >= 3] = 0.00135 (normal approximation, good to ~1% at this n).
    CHECK(binomial_upper_tail(k, n, 0.5) == Approx(0.00135).epsilon(0.02));
  }
  // Far in the tail with a huge n, the bounded sum never claims more than the truth:
  // the first term alone is a lower bound on the tail.
  const std::int64_t n = 5000000, k = 4000000;
  const double first_term = (std::lgamma(double(n) + 1) - std::lgamma(double(k) + 1) - std::lgamma(double(n - k) + 1) +
                             double(n) * std::log(0.5)) / std::log(10.0);
  CHECK(binomial_upper_tail_log10(k, n, 0.5) >= first_term);
  CHECK(binomial_upper_tail_log10(k, n, 0.5) < first_term + 1);
}

TEST_CASE("rank-sum tails match enumeration, the binomial for two levels, and keep far exponents", "[verify]") {
  // Every sum of 4 ranks of 3 levels, counted by enumerating the 81 outcomes.
  std::vector<int> counts(9, 0);
  for (int a = 0; a < 81; ++a) counts[a % 3 + a / 3 % 3 + a / 9 % 3 + a / 27]++;
  int below = 0;
  for (int s = 0; s < 9; ++s) {
    below += counts[s];
    INFO("s = " << s);
    CHECK(std::pow(10.0, uniform_rank_sum_lower_tail_log10(s, 4, 3)) == Approx(below / 81.0).epsilon(1e-12));
  }
  CHECK(uniform_rank_sum_lower_tail_log10(8, 4, 3) == 0.0);
  CHECK(uniform_rank_sum_lower_tail_log10(-1, 4, 3) == -std::numeric_limits<double>::infinity());
  CHECK(uniform_rank_sum_lower_tail_log10(0, 0, 9) == 0.0);
  // Two levels: the sum is Binomial(n, 1/2), and S <= s is n - s or more ones' complements.
  for (const std::int64_t s : {std::int64_t{400}, std::int64_t{480}, std::int64_t{500}, std::int64_t{530}}) {
    INFO("s = " << s);
    CHECK(uniform_rank_sum_lower_tail_log10(s, 1000, 2) ==
          Approx(binomial_upper_tail_log10(1000 - s, 1000, 0.5)).epsilon(1e-9).margin(1e-12));
  }
  // Every rank 0: exactly levels^-n, far below double's range, exponent intact.
  CHECK(uniform_rank_sum_lower_tail_log10(0, 3000, 9) == Approx(-3000 * std::log10(9.0)).epsilon(1e-12));
  CHECK(uniform_rank_sum_lower_tail_log10(10, 3000, 9) < -2800);
}

TEST_CASE("rank-sum tails too large to sum come back at once as a conservative bound", "[verify]") {
  // 200,000 ranks of 2 levels at 40% ones: the exact sum would take 3e10 additions.
  // The Chernoff bound is never below the exact binomial tail, and within its
  // known polynomial factor (about sqrt(2 pi n p q)) of it.
  const auto t0 = std::chrono::steady_clock::now();
  const double bound = uniform_rank_sum_lower_tail_log10(80000, 200000, 2);
  const double exact = binomial_upper_tail_log10(120000, 200000, 0.5);
  CHECK(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() < 2.0);
  CHECK(bound >= exact);
  CHECK(bound < exact + 4);
  // Above the mean with the bound out of reach: p-value 1, never a claim.
  CHECK(uniform_rank_sum_lower_tail_log10(100001, 200000, 2) == 0.0);
  CHECK_THROWS_WITH(uniform_rank_sum_lower_tail_log10(0, 10, 0), Catch::Contains("levels"));
  CHECK_THROWS_WITH(uniform_rank_sum_lower_tail_log10(0, -1, 9), Catch::Contains("levels"));
}

TEST_CASE("the verifier needs both a small p-value and a high match rate", "[verify]") {
  WatermarkKey key;
  key.method = "trigger-set";
  key.num_classes = 10;
  Verifier verifier;
  key.params = {{"label_policy", "random"}, {"generator", "unrelated"}};
  auto strong = verifier.decide(98, 100, key);
  CHECK(strong.verified);
  CHECK(strong.chance_rate == Approx(0.1));
  CHECK(strong.p_value < 1e-80);
  // 30/100 at chance 0.1: p about 8e-8, below 1e-6, yet the rate is under 0.5.
  auto middling = verifier.decide(30, 100, key);
  CHECK(middling.p_value < 1e-6);
  CHECK_FALSE(middling.verified);
  // A tiny key: 3/3 matches is a perfect rate but p = 1e-3.
  auto tiny = verifier.decide(3, 3, key);
  CHECK(tiny.match_rate == 1.0);
  CHECK_FALSE(tiny.verified);
  // A measured chance rate raises the bar.
  auto measured = Verifier(VerifierOptions().chance_rate(0.45)).decide(60, 100, key);
  CHECK_FALSE(measured.verified);
  CHECK(measured.to_json()["decision"] == "not verified");
}

TEST_CASE("the null match rate follows the label policy", "[verify]") {
  TriggerSet known, foreign;
  known.source_labels = torch::tensor({3, 1, 4, 1, 5}, torch::kLong);
  foreign.source_labels = torch::full({4}, -1, torch::kLong);
  CHECK(null_match_rate(known, "target", 10) == Approx(0.1));
  CHECK(null_match_rate(known, "random", 10) == Approx(1.0 / 9));
  CHECK(null_match_rate(foreign, "random", 10) == Approx(0.1));
  // The verifier uses the rate the key records.
  WatermarkKey key;
  key.method = "trigger-set";
  key.num_classes = 10;
  key.params = {{"chance_rate", 0.2}};
  CHECK(Verifier().decide(50, 100, key).chance_rate == Approx(0.2));
  CHECK(Verifier(VerifierOptions().chance_rate(0.3)).decide(50, 100, key).chance_rate == Approx(0.3));
}

TEST_CASE("a key cannot buy a smaller p-value by recording a smaller chance rate", "[verify]") {
  // The false accuser's hand-made key: 15 of 50 triggers match (a clean model's share
  // on a key whose labels it was asked for), and the key says chance is 1e-9.
  WatermarkKey key;
  key.method = "trigger-set";
  key.num_classes = 10;
  key.params = {{"chance_rate", 1e-9}, {"label_policy", "random"}, {"generator", "content"}};
  const auto report = Verifier(VerifierOptions().min_match_rate(0.3)).decide(15, 50, key);
  CHECK(report.chance_rate == Approx(1.0 / 9));  // the label policy's rate, not the key's
  CHECK_FALSE(report.verified);
  // What the key's number would have bought (the rate given explicitly, as an option):
  CHECK(Verifier(VerifierOptions().min_match_rate(0.3).chance_rate(1e-9)).decide(15, 50, key).verified);
  // Every policy's floor; an unknown key gets the largest black-box one.
  const auto floor = [](const char* method, const char* policy, const char* generator) {
    return chance_rate_floor(method, {{"label_policy", policy}, {"generator", generator}}, 10);
  };
  CHECK(floor("trigger-set", "random", "unrelated") == Approx(0.1));
  CHECK(floor("trigger-set", "random", "noise") == Approx(1.0 / 9));
  CHECK(floor("trigger-set", "target", "content") == Approx(0.1));
  CHECK(floor("trigger-set", "", "") == Approx(1.0 / 9));
  CHECK(floor("deepsigns-output", "random", "deepsigns-output") == Approx(1.0 / 9));
  CHECK(floor("uchida", "", "") == 0.5);
  CHECK(floor("no-such-scheme", "target", "") == 0.5);  // unknown: the largest floor
  CHECK(chance_rate_floor("no-such-scheme", nullptr, 2) == 1.0);
  CHECK_THROWS_AS(chance_rate_floor("trigger-set", nullptr, 1), Error);
  key.params = nlohmann::json{{"label_policy", 7}, {"chance_rate", "low"}};  // wrong types: the floor, no exception
  CHECK(Verifier().decide(20, 50, key).chance_rate == Approx(1.0 / 9));
}

namespace {

// Answers the key's own label for triggers 0..24 (found by pixel equality) and a wrong
// one for the rest, and remembers which triggers it was shown.
class HalfMarked : public Classifier {
 public:
  explicit HalfMarked(const WatermarkKey& key) : key_(key) {}
  at::Tensor classify(const at::Tensor& images) override {
    const auto& all = key_.tensor("images");
    auto out = torch::empty({images.size(0)}, torch::kLong);
    for (std::int64_t i = 0; i < images.size(0); ++i) {
      std::int64_t found = -1;
      for (std::int64_t j = 0; j < all.size(0) && found < 0; ++j)
        if (torch::equal(all[j], images[i])) found = j;
      REQUIRE(found >= 0);
      seen.push_back(found);
      const auto label = key_.tensor("labels")[found].item<std::int64_t>();
      out[i] = found < 25 ? label : (label + 1) % key_.num_classes;
    }
    queries_ += images.size(0);
    return out;
  }
  std::string describe() const override { return "half-marked"; }
  std::vector<std::int64_t> seen;

 private:
  const WatermarkKey& key_;
};

}  // namespace

TEST_CASE("a query budget asks a fresh random subset each time and counts it right", "[verify]") {
  WatermarkKey key;
  key.method = "trigger-set";
  key.num_classes = 10;
  key.input_shape = {1, 4, 4};
  torch::manual_seed(3);
  key.tensors["images"] = torch::randint(0, 256, {50, 1, 4, 4}, torch::kUInt8);
  key.tensors["labels"] = torch::randint(0, 10, {50}, torch::kLong);
  const Verifier budget(VerifierOptions().max_queries(10));
  std::set<std::vector<std::int64_t>> subsets;
  for (int round = 0; round < 3; ++round) {
    HalfMarked suspect(key);
    const auto report = budget.verify(suspect, key);
    CHECK(report.queries == 10);
    CHECK(report.queried_triggers == suspect.seen);  // the report lists what was asked
    CHECK(std::is_sorted(suspect.seen.begin(), suspect.seen.end()));
    CHECK(std::adjacent_find(suspect.seen.begin(), suspect.seen.end()) == suspect.seen.end());
    const auto below = std::count_if(suspect.seen.begin(), suspect.seen.end(), [](std::int64_t i) { return i < 25; });
    CHECK(report.matches == below);
    CHECK(report.to_json()["queried_triggers"].size() == 10);
    subsets.insert(suspect.seen);
  }
  CHECK(subsets.size() == 3);  // equal subsets: once in C(50,10) ~ 1e10
  // Without a budget every trigger is asked, in order, and none is listed.
  HalfMarked all(key);
  const auto report = Verifier().verify(all, key);
  CHECK(report.queries == 50);
  CHECK(report.matches == 25);
  CHECK(report.queried_triggers.empty());
  CHECK_FALSE(report.to_json().contains("queried_triggers"));
}

TEST_CASE("Holm's adjustment matches the textbook example and keeps the family-wise error", "[verify]") {
  // p = 0.01, 0.04, 0.03, 0.005 (m = 4): sorted 0.005, 0.01, 0.03, 0.04 become
  // 0.02, 0.03, 0.06, 0.06 (the last is max(0.06, 0.04)).
  const std::vector<double> p{0.01, 0.04, 0.03, 0.005};
  std::vector<double> log10_p;
  for (double value : p) log10_p.push_back(std::log10(value));
  const auto adjusted = holm_adjusted_log10(log10_p);
  CHECK(std::pow(10.0, adjusted[0]) == Approx(0.03));
  CHECK(std::pow(10.0, adjusted[1]) == Approx(0.06));
  CHECK(std::pow(10.0, adjusted[2]) == Approx(0.06));
  CHECK(std::pow(10.0, adjusted[3]) == Approx(0.02));
  // Capped at 1, -inf stays -inf, one test is unchanged.
  CHECK(holm_adjusted_log10({-0.1, -0.2})[0] == 0.0);
  CHECK(holm_adjusted_log10({-std::numeric_limits<double>::infinity()})[0] == -std::numeric_limits<double>::infinity());
  CHECK(holm_adjusted_log10({-7.5})[0] == -7.5);
  CHECK_THROWS(holm_adjusted_log10({0.5}));

  // A false accuser who checks 1,000 innocent models at p < 1e-3 each expects one
  // "verified" by chance; as one family, none (measured over 20 families of null p-values).
  std::mt19937_64 random(7);
  std::uniform_real_distribution<double> uniform(0.0, 1.0);
  int raw_claims = 0, family_claims = 0;
  for (int family = 0; family < 20; ++family) {
    std::vector<VerificationReport> reports(1000);
    for (auto& report : reports) {
      report.log10_p_value = std::log10(uniform(random));
      report.p_threshold = 1e-3;
      report.match_rate = 1;
      report.verified = report.log10_p_value < -3;
      raw_claims += report.verified;
    }
    Verifier::control_family_wise_error(reports);
    for (const auto& report : reports) {
      family_claims += report.verified;
      CHECK(report.family_size == 1000);
    }
  }
  CHECK(raw_claims > 5);  // about 20 expected
  CHECK(family_claims == 0);
}
