#include "wmark/eval/false_positive.h"

#include <algorithm>

#include "wmark/util/error.h"
#include "wmark/verify/classifier.h"

namespace wmark {

nlohmann::json FalsePositiveReport::to_json() const {
  return {{"checks", checks}, {"false_claims", false_claims}, {"not_applicable", not_applicable}, {"highest_match_rate", highest_match_rate},
          {"lowest_p_value", lowest_p_value}, {"verifications", checks_detail}};
}

FalsePositiveReport false_positive_study(const std::vector<CleanModel>& models, const std::vector<WatermarkKey>& keys,
                                         const std::vector<std::string>& key_names, const Verifier& verifier,
                                         c10::Device device) {
  WMARK_CHECK(keys.size() == key_names.size(), "false_positive_study: ", keys.size(), " keys but ",
              key_names.size(), " names");
  FalsePositiveReport report;
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
      report.false_claims += r.verified ? 1 : 0;
      report.highest_match_rate = std::max(report.highest_match_rate, r.match_rate);
      report.lowest_p_value = std::min(report.lowest_p_value, r.p_value);
      report.checks_detail.push_back({{"model", clean.name}, {"key", key_names[k]}, {"match_rate", r.match_rate},
                                      {"p_value", r.p_value}, {"verified", r.verified}});
    }
  }
  return report;
}

}  // namespace wmark
