/// \file
/// The false-positive study: models that were never watermarked, verified against
/// every key. Ownership must never be claimed for them.
#pragma once

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
