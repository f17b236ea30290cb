#include "wmark/verify/report.h"

#include <cmath>
#include <sstream>

namespace wmark {

nlohmann::json VerificationReport::to_json() const {
  // JSON has no -inf: an underflowed log10 p-value is written as null.
  nlohmann::json log10_p = std::isfinite(log10_p_value) ? nlohmann::json(log10_p_value) : nlohmann::json();
  nlohmann::json out = {{"model", model},
          {"method", method},
          {"key_commitment", key_commitment},
          {"queries", queries},
          {"matches", matches},
          {"match_rate", match_rate},
          {"chance_rate", chance_rate},
          {"p_value", p_value},
          {"log10_p_value", log10_p},
          {"p_threshold", p_threshold},
          {"min_match_rate", min_match_rate},
          {"verified", verified},
          {"decision", verified                   ? "ownership verified"
                       : refused_key()            ? "not verified: the key is not derivable from its secret"
                                                  : "not verified"},
          {"seconds", seconds}};
  if (bit_error_rate >= 0) out["bit_error_rate"] = bit_error_rate;
  if (bits_inverted) out["bits_inverted"] = true;
  if (!queried_triggers.empty()) out["queried_triggers"] = queried_triggers;
  if (!model_sha256.empty()) out["model_sha256"] = model_sha256;
  if (!transcript_sha256.empty()) out["transcript_sha256"] = transcript_sha256;
  if (!tls_certificate_sha256.empty()) out["tls_certificate_sha256"] = tls_certificate_sha256;
  if (!verified_at.empty()) out["verified_at"] = verified_at;
  if (!unit_alignment.is_null()) out["unit_alignment"] = unit_alignment;
  if (!control.is_null()) out["control"] = control;
  if (!score_test.is_null()) out["score_test"] = score_test;
  if (family_size > 1) {
    const bool finite = std::isfinite(family_log10_p_value);
    out["family"] = {{"size", family_size},
                     {"method", "holm-bonferroni"},
                     {"log10_adjusted_p_value", finite ? nlohmann::json(family_log10_p_value) : nlohmann::json()},
                     {"adjusted_p_value", std::pow(10.0, family_log10_p_value)}};
  }
  if (!key_derivation.empty()) {
    out["key_derivation"] = key_derivation;
    out["key_forgeable"] = key_forgeable;
  }
  return out;
}

std::string VerificationReport::summary() const {
  std::ostringstream out;
  out << (verified ? "VERIFIED" : "NOT VERIFIED") << ": " << matches << "/" << queries
      << (bit_error_rate >= 0 ? " bits" : " triggers") << (bits_inverted ? " inverted" : "")
      << (score_test.contains("rank_sum") ? " ranked first" : " matched") << " (rate " << match_rate << ", chance "
      << chance_rate << ")";
  if (score_test.contains("rank_sum"))
    out << ", mean rank " << score_test.at("mean_rank").get<double>() << " of 0.."
        << score_test.at("rank_levels").get<std::int64_t>() - 1 << " (chance "
        << score_test.at("null_mean_rank").get<double>() << ")";
  out << ", p-value " << p_value << " (log10 " << log10_p_value << ")";
  if (control.contains("queries"))
    out << "; control: " << control.at("target_answers") << "/" << control.at("queries")
        << " unmarked images given the target class (rate " << control.at("target_rate").get<double>() << ")";
  if (score_test.contains("label_matches")) {
    out << "; read from the class scores (the labels alone: " << score_test.at("label_matches");
    if (score_test.contains("label_counted")) out << " of " << score_test.at("label_counted") << " counted";
    out << " matched)";
    if (score_test.contains("decided_by"))
      out << "; twice the smaller of the rank sum's p-value (log10 " << score_test.at("rank_sum_log10_p_value").get<double>()
          << ") and the labels' (log10 " << score_test.at("label_log10_p_value").get<double>() << ") decides";
  } else if (score_test.contains("why")) {
    out << "; read from the labels (" << score_test.at("why").get<std::string>() << ")";
  }
  // Only the answers that could match were counted (Scheme::counted_queries).
  if (score_test.contains("counted"))
    out << "; counted " << score_test.at("counted") << " of " << score_test.at("asked")
        << " answers, those that could match the key";
  return out.str();
}

}  // namespace wmark
