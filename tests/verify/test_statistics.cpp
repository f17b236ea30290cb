#include <catch2/catch.hpp>

#include <cmath>

#include "wmark/verify/statistics.h"
#include "wmark/verify/verifier.h"
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

TEST_CASE("the verifier needs both a small p-value and a high match rate", "[verify]") {
  WatermarkKey key;
  key.method = "trigger-set";
  key.num_classes = 10;
  Verifier verifier;
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
