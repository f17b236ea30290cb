/// \file
/// The false-positive study: models that were never watermarked, verified against
/// every key. Ownership must never be claimed for them.
#pragma once

#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "wmark/models/network.h"
#include "wmark/util/export.h"
#include "wmark/verify/verifier.h"
#include "wmark/watermark/key.h"

namespace wmark {

/// A model known not to carry any of the keys' watermarks.
struct CleanModel {
  std::string name;  ///< e.g. "mnist_cnn seed 3"
  NetworkPtr model;  ///< trained without triggers
};

/// The Watermark-Robustness-Toolbox's decision rule: a Gaussian fitted to clean models'
/// match rates on one key; a suspect is claimed when its match rate exceeds the fit's
/// one-sided 95% quantile (p = 0.05). Reported beside wmark's binomial test, which needs
/// no clean models and controls its error rate exactly; with a handful of clean models
/// the fitted spread is itself a guess, and a narrow one claims at low match rates.
struct WMARK_API NullModelThreshold {
  std::int64_t models = 0;  ///< clean models fitted
  double mean = 0;          ///< their mean match rate
  double stddev = 0;        ///< the sample standard deviation of their match rates
  double threshold = 1;     ///< mean + 1.645 stddev (1, never reached, below 2 models)
  /// Two or more models that all matched the same rate: the threshold is that rate, so
  /// the rule calls any higher rate ownership; its answers are then no evidence.
  bool no_spread = false;
  /// Whether the rule claims ownership of a model with `match_rate`.
  bool claims(double match_rate) const { return models >= 2 && match_rate > threshold; }
  /// {"models", "mean", "stddev", "threshold", "no_spread"}; null where fewer models than it needs.
  nlohmann::json to_json() const;
};

/// The rule fitted to `match_rates` (one per clean model).
WMARK_API NullModelThreshold fit_null_model(const std::vector<double>& match_rates);

/// Every (clean model, key) verification and the extremes over all of them.
struct FalsePositiveReport {
  std::int64_t checks = 0;          ///< verifications run
  std::int64_t false_claims = 0;    ///< how many claimed ownership (must be 0)
  /// White-box keys whose layer a model does not have (another architecture): the mark
  /// cannot be there, so these pairs are listed but not counted as checks.
  std::int64_t not_applicable = 0;
  double highest_match_rate = 0;    ///< the clean model closest to a key
  double lowest_p_value = 1;        ///< and the smallest p-value seen
  nlohmann::json checks_detail = nlohmann::json::array();  ///< one entry per verification
  /// Per key name, the null-model rule fitted to all the clean models.
  std::map<std::string, NullModelThreshold> null_model;
  /// Clean models the null-model rule claims when fitted to the other clean models
  /// (leave one out), out of `null_model_checks`.
  std::int64_t null_model_false_claims = 0;
  std::int64_t null_model_checks = 0;  ///< leave-one-out decisions made
  /// The report as JSON.
  nlohmann::json to_json() const;
};

/// Verifies every model against every key (named by `key_names`, same order as `keys`)
/// on `device`. Requires as many names as keys.  A white-box key that cannot be read from
/// a model (no such layer, another width) counts as not applicable.
WMARK_API FalsePositiveReport false_positive_study(const std::vector<CleanModel>& models,
                                                   const std::vector<WatermarkKey>& keys,
                                                   const std::vector<std::string>& key_names,
                                                   const Verifier& verifier = Verifier(),
                                                   c10::Device device = c10::Device(c10::kCPU));

}  // namespace wmark
