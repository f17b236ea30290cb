#include "wmark/eval/false_positive.h"

#include <algorithm>
#include <cmath>

#include "wmark/util/error.h"
#include "wmark/verify/classifier.h"

namespace wmark {

nlohmann::json NullModelThreshold::to_json() const {
  // No spread and no threshold from fewer than two models: null, not a number that reads as fitted.
  const auto fitted = [&](double value) { return models >= 2 ? nlohmann::json(value) : nlohmann::json(); };
  return {{"models", models}, {"mean", models >= 1 ? nlohmann::json(mean) : nlohmann::json()},
          {"stddev", fitted(stddev)}, {"threshold", fitted(threshold)}, {"no_spread", no_spread}};
}

NullModelThreshold fit_null_model(const std::vector<double>& match_rates) {
  NullModelThreshold fit;
  fit.models = static_cast<std::int64_t>(match_rates.size());
  for (double r : match_rates) fit.mean += r / static_cast<double>(fit.models);
  if (fit.models < 2) return fit;
  double squares = 0;
  for (double r : match_rates) squares += (r - fit.mean) * (r - fit.mean);
  fit.stddev = std::sqrt(squares / static_cast<double>(fit.models - 1));
  fit.threshold = fit.mean + 1.6448536269514722 * fit.stddev;  // the standard normal's 95% quantile
  // Compared as rates, not as a zero stddev, which rounding of equal rates need not give.
  fit.no_spread = std::all_of(match_rates.begin(), match_rates.end(), [&](double r) { return r == match_rates[0]; });
  return fit;
}

nlohmann::json FalsePositiveReport::to_json() const {
  nlohmann::json fits = nlohmann::json::object();
  for (const auto& [key, fit] : null_model) fits[key] = fit.to_json();
  return {{"checks", checks}, {"false_claims", false_claims}, {"not_applicable", not_applicable}, {"highest_match_rate", highest_match_rate},
          {"lowest_p_value", lowest_p_value}, {"verifications", checks_detail}, {"null_model", fits},
          {"null_model_false_claims", null_model_false_claims}, {"null_model_checks", null_model_checks}};
}

FalsePositiveReport false_positive_study(const std::vector<CleanModel>& models, const std::vector<WatermarkKey>& keys,
                                         const std::vector<std::string>& key_names, const Verifier& verifier,
                                         c10::Device device) {
  WMARK_CHECK(keys.size() == key_names.size(), "false_positive_study: ", keys.size(), " keys but ",
              key_names.size(), " names");
  FalsePositiveReport report;
  std::vector<std::vector<double>> rates(keys.size());  // per key, one per applicable clean model
  for (const auto& clean : models) {
    WMARK_CHECK(clean.model, "false_positive_study: clean model '", clean.name, "' is null");
    for (size_t k = 0; k < keys.size(); ++k) {
      VerificationReport r;
      try {
        r = verifier.verify_model(*clean.model, keys[k], clean.name, device);
      } catch (const Error& error) {
        if (keys[k].black_box()) throw;  // a query key fits any model of the task
        ++report.not_applicable;
        report.checks_detail.push_back({{"model", clean.name}, {"key", key_names[k]}, {"not_applicable", error.what()}});
        continue;
      }
      ++report.checks;
      rates[k].push_back(r.match_rate);
      report.false_claims += r.verified ? 1 : 0;
      report.highest_match_rate = std::max(report.highest_match_rate, r.match_rate);
      report.lowest_p_value = std::min(report.lowest_p_value, r.p_value);
      nlohmann::json detail = {{"model", clean.name}, {"key", key_names[k]}, {"match_rate", r.match_rate},
                               {"p_value", r.p_value}, {"verified", r.verified}};
      if (!r.unit_alignment.is_null()) detail["unit_alignment"] = r.unit_alignment;  // both readings of a white-box key
      report.checks_detail.push_back(std::move(detail));
    }
  }
  for (size_t k = 0; k < keys.size(); ++k) {
    report.null_model[key_names[k]] = fit_null_model(rates[k]);
    // Leave one out: would the rule, fitted to the other clean models, claim this one?
    for (size_t i = 0; rates[k].size() >= 3 && i < rates[k].size(); ++i) {
      auto others = rates[k];
      others.erase(others.begin() + static_cast<std::ptrdiff_t>(i));
      ++report.null_model_checks;
      report.null_model_false_claims += fit_null_model(others).claims(rates[k][i]) ? 1 : 0;
    }
  }
  return report;
}

}  // namespace wmark
