#include "wmark/watermark/parameter_smoothing.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <sstream>

#include "wmark/models/parameters.h"
#include "wmark/train/evaluate.h"
#include "wmark/util/error.h"
#include "wmark/util/random.h"
#include "wmark/verify/statistics.h"
#include "wmark/watermark/key_secret.h"
#include "wmark/watermark/scheme.h"

namespace wmark {

using json = nlohmann::json;
namespace {

double normal_cdf(double x) { return 0.5 * std::erfc(-x / std::sqrt(2.0)); }

// The smallest match count m of n queries whose smoothed p-value, 2 P[Bin(n, p0) >= m]
// + alpha, is below p_threshold, with m/n >= 1/2 as the Verifier requires; n + 1 if none.
std::int64_t threshold_count(std::int64_t n, double p0, double alpha, double p_threshold) {
  for (std::int64_t m = (n + 1) / 2; m <= n; ++m) {
    if (2 * binomial_upper_tail(m, n, p0) + alpha < p_threshold) return m;
  }
  return n + 1;
}

// The unperturbed model's answers to a target-label key's triggers and control images:
// Fisher's test that the triggers get the target class more often (as the Verifier).
json control_test(Network& model, const WatermarkKey& key, c10::Device device) {
  const auto controls = key.controls();
  if (!controls)
    return {{"missing", "the key holds no control images (made before keys had them): a model that answers the "
                        "target class to every input would be certified; re-embed for a key that has them"}};
  const auto count = controls->images.size(0);
  const auto& images = key.tensor("images");
  const auto answers = predict_labels(model, images, key.normalization, device);
  const auto matches = query_matches(key, torch::arange(images.size(0), torch::kLong), answers).sum().item<std::int64_t>();
  const auto target_answers = predict_labels(model, controls->images, key.normalization, device)
                                  .eq(controls->target_label)
                                  .sum()
                                  .item<std::int64_t>();
  const double fisher = fisher_exact_greater_log10(matches, images.size(0), target_answers, count);
  return {{"queries", count},
          {"target_answers", target_answers},
          {"target_rate", static_cast<double>(target_answers) / static_cast<double>(count)},
          {"trigger_matches", matches},
          {"log10_p_value", std::isfinite(fisher) ? json(fisher) : json()}};
}

}  // namespace

std::int64_t quantile_lower_order(std::int64_t n, double q, double alpha) {
  WMARK_CHECK(n >= 1 && q >= 0 && q <= 1 && alpha > 0 && alpha < 1, "quantile_lower_order: bad arguments n=", n,
              " q=", q, " alpha=", alpha);
  // P[Bin(n, q) >= k] falls as k grows: bisect for the last k that keeps it >= 1 - alpha.
  std::int64_t low = 0, high = n + 1;  // tail(low) holds (k = 0 always does), tail(high) does not
  while (high - low > 1) {
    const auto mid = low + (high - low) / 2;
    (binomial_upper_tail(mid, n, q) >= 1 - alpha ? low : high) = mid;
  }
  return low;
}

void draw_parameter_noise(std::vector<at::Tensor>& params, const std::vector<at::Tensor>& original, double sigma,
                          at::Generator& generator) {
  WMARK_CHECK(params.size() == original.size(), "parameter noise: ", params.size(), " parameters but ",
              original.size(), " originals");
  torch::NoGradGuard no_grad;
  for (std::size_t i = 0; i < params.size(); ++i) {
    const auto noise = torch::randn(original[i].sizes(), generator, torch::kFloat).to(original[i].options());
    params[i].copy_(original[i] + sigma * noise);
  }
}

std::vector<double> noisy_match_rates(Network& model, const WatermarkKey& key, double sigma, std::int64_t draws,
                                      std::uint64_t seed, c10::Device device) {
  WMARK_CHECK(key.black_box(), "parameter smoothing reads a black-box key; this ", key.method,
              " key is read from the weights");
  WMARK_CHECK(sigma > 0 && std::isfinite(sigma), "smoothing noise sigma must be positive, got ", sigma);
  const auto& images = key.tensor("images");
  const auto queried = torch::arange(images.size(0), torch::kLong);
  torch::NoGradGuard no_grad;
  model.to(device);
  model.eval();
  auto params = model.parameters();
  std::vector<at::Tensor> original;
  for (const auto& p : params) original.push_back(p.detach().clone());
  auto generator = make_generator(derive_seed(seed, "parameter-smoothing"));
  std::vector<double> rates;
  try {
    for (std::int64_t d = 0; d < draws; ++d) {
      draw_parameter_noise(params, original, sigma, generator);
      const auto answers = predict_labels(model, images, key.normalization, device);
      rates.push_back(query_matches(key, queried, answers).to(torch::kDouble).mean().item<double>());
    }
  } catch (...) {
    for (std::size_t i = 0; i < params.size(); ++i) params[i].copy_(original[i]);
    throw;
  }
  for (std::size_t i = 0; i < params.size(); ++i) params[i].copy_(original[i]);
  return rates;
}

WatermarkCertificate certify_watermark(Network& model, const WatermarkKey& key, const SmoothingOptions& options,
                                       c10::Device device) {
  WMARK_CHECK(key.black_box(), "parameter smoothing reads a black-box key; this ", key.method,
              " key is read from the weights");
  WMARK_CHECK(options.draws() >= 10, "certification needs at least 10 noise draws, got ", options.draws());
  WMARK_CHECK(options.alpha() > 0 && options.alpha() < 1, "alpha must be in (0, 1), got ", options.alpha());
  WMARK_CHECK(options.p_threshold() > 0 && options.p_threshold() < 1, "p_threshold must be in (0, 1), got ",
              options.p_threshold());
  WatermarkCertificate c;
  c.sigma = options.sigma();
  c.draws = options.draws();
  c.alpha = options.alpha();
  c.seed = options.seed() ? *options.seed() : KeySecret().stream("parameter-smoothing").next_u64();
  c.queries = key.tensor("labels").size(0);
  c.chance_rate = chance_rate_floor(key.method, key.params, key.num_classes);
  c.match_rates = noisy_match_rates(model, key, c.sigma, c.draws, c.seed, device);
  std::sort(c.match_rates.begin(), c.match_rates.end());
  c.parameter_norm = parameter_norm(model);

  const auto n = c.draws;
  const auto order = [&c](std::int64_t k) { return k >= 1 ? c.match_rates[static_cast<std::size_t>(k - 1)] : 0.0; };
  c.median_lower_bound = order(quantile_lower_order(n, 0.5, c.alpha));
  const auto matches = static_cast<std::int64_t>(std::llround(c.median_lower_bound * static_cast<double>(c.queries)));
  c.log10_p_value =
      std::log10(std::min(1.0, 2 * binomial_upper_tail(matches, c.queries, c.chance_rate) + c.alpha));
  const auto needed = threshold_count(c.queries, c.chance_rate, c.alpha, options.p_threshold());
  c.threshold = static_cast<double>(needed) / static_cast<double>(c.queries);
  c.verified = needed <= c.queries && c.median_lower_bound >= c.threshold;
  if (key.one_target_class()) {
    c.control = control_test(model, key, device);
    const auto& fisher = c.control.value("log10_p_value", json());
    if (fisher.is_number() && !(fisher.get<double>() < std::log10(options.p_threshold()))) c.verified = false;
  }
  if (!c.verified) return c;
  // The radius: the largest r whose Phi(-r/sigma)-quantile bound still reaches the
  // threshold. The bound falls as r grows, so bisection finds it.
  const auto holds = [&](double r) {
    return order(quantile_lower_order(n, normal_cdf(-r / c.sigma), c.alpha)) >= c.threshold;
  };
  double low = 0, high = 10 * c.sigma;
  while (holds(high)) high *= 2;
  for (int i = 0; i < 50; ++i) {
    const double mid = 0.5 * (low + high);
    (holds(mid) ? low : high) = mid;
  }
  c.radius = low;
  return c;
}

nlohmann::json WatermarkCertificate::to_json() const {
  nlohmann::json out = {{"sigma", sigma},
          {"draws", draws},
          {"alpha", alpha},
          {"seed", seed},
          {"queries", queries},
          {"chance_rate", chance_rate},
          {"match_rates", match_rates},
          {"median_lower_bound", median_lower_bound},
          {"threshold", threshold},
          {"log10_p_value", log10_p_value},
          {"verified", verified},
          {"radius", radius},
          {"parameter_norm", parameter_norm}};
  if (!control.is_null()) out["control"] = control;
  return out;
}

std::string WatermarkCertificate::summary() const {
  std::ostringstream out;
  out << "smoothed match rate >= " << median_lower_bound << " (threshold " << threshold << ", sigma " << sigma << ", "
      << draws << " draws)\n"
      << "smoothed p-value <= 10^" << log10_p_value << "\n"
      << "certified l2 radius: " << radius << " (parameter norm " << parameter_norm << ")\n";
  if (control.contains("missing")) out << "warning: " << control["missing"].get<std::string>() << "\n";
  if (control.contains("queries"))
    out << "control: " << control["target_answers"] << "/" << control["queries"]
        << " unmarked images given the target class, against " << control["trigger_matches"] << "/" << queries
        << " triggers (log10 p " << control["log10_p_value"] << ")\n";
  out << (verified ? "VERIFIED" : "NOT VERIFIED");
  return out.str();
}

}  // namespace wmark
