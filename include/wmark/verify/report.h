/// \file
/// The outcome of a verification, as users read it (JSON).
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

namespace wmark {

struct VerificationReport {
  std::string model;
  std::string method;
  std::string key_commitment;
  std::int64_t queries = 0;
  std::int64_t matches = 0;
  double match_rate = 0;
  /// Match probability of an unwatermarked model per query (the null hypothesis).
  double chance_rate = 0;
  double p_value = 1;
  double log10_p_value = 0;
  double p_threshold = 0;
  double min_match_rate = 0;
  /// Ownership verified: p_value < p_threshold and match_rate >= min_match_rate.
  bool verified = false;
  double seconds = 0;

  nlohmann::json to_json() const;
};

}  // namespace wmark
