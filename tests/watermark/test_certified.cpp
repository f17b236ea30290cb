// Certified watermarks (Bansal et al., ICML 2022): a trigger set read through the model
// under Gaussian parameter noise, and the l2 radius in weight space within which the
// reading cannot fall below the threshold. Played here: the certificate holds against
// a change of the weights smaller than the radius, in the direction that hurts the
// triggers most; a clean model's smoothed reading does not verify; the noise leaves
// the model exactly as it was.
#include <catch2/catch.hpp>

#include <torch/torch.h>

#include <algorithm>

#include "../support/test_support.h"
#include "small_mnist.h"
#include "wmark/models/clone.h"
#include "wmark/models/parameters.h"
#include "wmark/util/error.h"
#include "wmark/verify/statistics.h"
#include "wmark/verify/verifier.h"
#include "wmark/watermark/parameter_smoothing.h"
#include "wmark/watermark/scheme.h"

using namespace wmark;
using Catch::Matchers::Contains;

namespace {

constexpr double kSigma = 0.1;

struct CertifiedFixture {
  NetworkPtr marked;
  EmbedResult result;
};

const CertifiedFixture& certified_fixture() {
  static const CertifiedFixture fixture = [] {
    CertifiedFixture f;
    f.marked = test::SmallMnist::fresh(10);
    f.result = embed_watermark("certified",
                               {{"trigger_size", 50}, {"smoothing_sigma", kSigma}, {"noise_draws", 4},
                                {"certify_draws", 100}},
                               test::small_mnist_request(f.marked, "certified-test"));
    return f;
  }();
  return fixture;
}

double sample_median(std::vector<double> rates) {
  std::sort(rates.begin(), rates.end());
  return rates[rates.size() / 2];
}

}  // namespace

TEST_CASE("quantile_lower_order is the last order statistic that stays below the quantile", "[watermark]") {
  for (const auto& [n, q, alpha] : {std::tuple{100, 0.5, 1e-7}, std::tuple{1000, 0.2, 0.01}, std::tuple{30, 0.9, 0.05}}) {
    const auto k = quantile_lower_order(n, q, alpha);
    INFO("n " << n << " q " << q << " alpha " << alpha << " k " << k);
    REQUIRE(k >= 1);
    CHECK(binomial_upper_tail(k, n, q) >= 1 - alpha);
    CHECK(binomial_upper_tail(k + 1, n, q) < 1 - alpha);
  }
  CHECK(quantile_lower_order(100, 0.0, 0.01) == 0);
  CHECK(quantile_lower_order(100, 0.5, 1e-7) < 50);
  CHECK_THROWS_AS(quantile_lower_order(0, 0.5, 0.01), Error);
}

TEST_CASE("parameter noise leaves the model as it was and is reproducible per seed", "[watermark]") {
  const auto& f = certified_fixture();
  auto before = clone_network(*f.marked, [] { return test::SmallMnist::fresh(0); });
  const auto a = noisy_match_rates(*f.marked, f.result.key, kSigma, 20, 5, torch::kCPU);
  const auto b = noisy_match_rates(*f.marked, f.result.key, kSigma, 20, 5, torch::kCPU);
  const auto c = noisy_match_rates(*f.marked, f.result.key, kSigma, 20, 6, torch::kCPU);
  CHECK(a == b);
  CHECK(a != c);
  CHECK(parameter_distance(*f.marked, *before).value() == 0.0);
  // Far more noise than trained for drowns the triggers.
  const auto loud = noisy_match_rates(*f.marked, f.result.key, 20 * kSigma, 20, 5, torch::kCPU);
  CHECK(sample_median(loud) < sample_median(a));
  CHECK_THROWS_WITH(noisy_match_rates(*f.marked, f.result.key, 0.0, 5, 5, torch::kCPU), Contains("sigma"));
}

TEST_CASE("a certified mark verifies smoothed, with a positive radius, and a clean model does not", "[watermark]") {
  const auto& f = certified_fixture();
  const auto& key = f.result.key;
  REQUIRE(key.method == "certified");
  CHECK(key.params["smoothing_sigma"] == kSigma);
  CHECK(f.result.clean_accuracy_after > 0.85);
  CHECK(Verifier().verify_model(*f.marked, key, "marked", torch::kCPU).verified);
  CHECK(f.result.details["certified_radius"].get<double>() > 0.2 * kSigma);

  const auto options = SmoothingOptions().sigma(kSigma).draws(100).seed(21);
  const auto certificate = certify_watermark(*f.marked, key, options, torch::kCPU);
  INFO(certificate.to_json().dump());
  CHECK(certificate.verified);
  CHECK(certificate.radius > 0.2 * kSigma);
  CHECK(certificate.log10_p_value < -6);
  CHECK(std::is_sorted(certificate.match_rates.begin(), certificate.match_rates.end()));
  REQUIRE(key.params["label_policy"] == "target");  // content triggers, the paper's
  CHECK(certificate.control["target_rate"].get<double>() < 0.1);
  CHECK(certificate.to_json()["control"]["queries"] == key.tensor("control_images").size(0));

  for (const auto& clean : {test::small_mnist().clean_a, test::small_mnist().clean_b}) {
    const auto smoothed = certify_watermark(*clean, key, options, torch::kCPU);
    CHECK_FALSE(smoothed.verified);
    CHECK(smoothed.radius == 0.0);
    CHECK(smoothed.median_lower_bound < 0.5);
  }
}

TEST_CASE("a model that answers the target class to everything is not certified on a target-label key",
          "[watermark][adversary]") {
  const auto& key = certified_fixture().result.key;
  const auto target = key.params["target_label"].get<std::int64_t>();
  // An untrained mnist_cnn whose output layer gives the target class whatever comes in.
  auto constant = test::SmallMnist::fresh(30);
  {
    torch::NoGradGuard no_grad;
    auto params = constant->parameters();
    params[params.size() - 2].zero_();  // the output layer's weight
    params.back().zero_();              // and bias
    params.back()[target] = 1000.0;
  }
  const auto options = SmoothingOptions().sigma(kSigma).draws(100).seed(23);
  // Every noisy draw matches every trigger: the reading alone would certify it.
  auto old_key = key;
  old_key.tensors.erase("control_images");
  const auto unguarded = certify_watermark(*constant, old_key, options, torch::kCPU);
  CHECK(unguarded.median_lower_bound == 1.0);
  CHECK(unguarded.verified);
  CHECK_THAT(unguarded.control["missing"].get<std::string>(), Contains("every input"));
  // The controls get the target class as often: refused, no radius.
  const auto guarded = certify_watermark(*constant, key, options, torch::kCPU);
  INFO(guarded.to_json().dump());
  CHECK(guarded.median_lower_bound == 1.0);
  CHECK(guarded.control["target_rate"] == 1.0);
  CHECK_FALSE(guarded.verified);
  CHECK(guarded.radius == 0.0);
}

TEST_CASE("moving the weights less than the certified radius, towards losing the triggers, keeps the smoothed mark",
          "[watermark][adversary]") {
  const auto& f = certified_fixture();
  const auto& key = f.result.key;
  const auto certificate = certify_watermark(*f.marked, key, SmoothingOptions().sigma(kSigma).draws(100).seed(22),
                                             torch::kCPU);
  REQUIRE(certificate.radius > 0);
  // The thief's best single step: along the gradient that raises the loss on the
  // trigger labels, scaled to 90% of the radius.
  auto moved = clone_network(*f.marked, [] { return test::SmallMnist::fresh(0); });
  moved->eval();
  const auto loss = torch::cross_entropy_loss(moved->forward(key.normalization.apply(key.tensor("images"))),
                                              key.tensor("labels"));
  auto params = moved->parameters();
  const auto grads = torch::autograd::grad({loss}, params);
  double norm = 0;
  for (const auto& g : grads) norm += g.pow(2).sum().item<double>();
  norm = std::sqrt(norm);
  {
    torch::NoGradGuard no_grad;
    for (std::size_t i = 0; i < params.size(); ++i) params[i].add_(grads[i] * (0.9 * certificate.radius / norm));
  }
  CHECK(parameter_distance(*moved, *f.marked).value() == Approx(0.9 * certificate.radius).epsilon(1e-3));
  const auto after = noisy_match_rates(*moved, key, kSigma, 101, 23, torch::kCPU);
  CHECK(sample_median(after) >= certificate.threshold);
}

TEST_CASE("certification refuses white-box keys and bad options", "[watermark]") {
  const auto& f = certified_fixture();
  WatermarkKey white = f.result.key;
  white.tensors.erase("images");
  white.tensors.erase("labels");
  white.tensors["bits"] = torch::zeros({8}, torch::kUInt8);
  white.method = "uchida";
  CHECK_THROWS_WITH(certify_watermark(*f.marked, white, SmoothingOptions(), torch::kCPU), Contains("black-box"));
  CHECK_THROWS_WITH(certify_watermark(*f.marked, f.result.key, SmoothingOptions().draws(5), torch::kCPU),
                    Contains("10 noise draws"));
  CHECK_THROWS_WITH(certify_watermark(*f.marked, f.result.key, SmoothingOptions().alpha(2), torch::kCPU),
                    Contains("alpha"));
}
