/// \file
/// The outcome of a verification, as users read it (JSON).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "wmark/util/export.h"

namespace wmark {

/// What Verifier::verify() and Verifier::decide() found, and the decision.
struct WMARK_API VerificationReport {
  /// The suspect model, as its Classifier describes it (empty for decide()).
  std::string model;
  /// The key's scheme, e.g. "trigger-set".
  std::string method;
  /// The key's SHA-256 commitment (hex).
  std::string key_commitment;
  /// Triggers (or bits) the decision counts; control images sent besides are in `control`.
  std::int64_t queries = 0;
  /// Triggers the suspect labelled with their watermark labels.
  std::int64_t matches = 0;
  /// matches / queries.
  double match_rate = 0;
  /// Match probability of an unwatermarked model per query (the null hypothesis).
  double chance_rate = 0;
  /// One-sided binomial p-value of the match count (0 when it underflows double); with
  /// control queries the larger of it and the control test's (see `control`).
  double p_value = 1;
  /// log10 of the p-value, which keeps its exponent far below 1e-308 (-inf when the
  /// p-value is exactly 0).
  double log10_p_value = 0;
  /// The p-value must be below this.
  double p_threshold = 0;
  /// The match rate must reach this (0 for a key with an exact chance rate, e.g. dawn).
  double min_match_rate = 0;
  /// Ownership verified: p_value < p_threshold and match_rate >= min_match_rate (and the
  /// key derivable, when the verifier required it).
  bool verified = false;
  /// When the verifier re-derived the key: "derived", or "not derivable: REASON";
  /// empty when it did not check (not written to JSON then).
  std::string key_derivation;
  /// A key that is not derivable, accepted on request: a false accuser could have made
  /// it, so the decision proves nothing against one.
  bool key_forgeable = false;
  /// White-box keys: the share of extracted bits that differ from the key's; negative
  /// for trigger sets (not written to JSON then).
  double bit_error_rate = -1;
  /// White-box keys: the decision counted the extracted bits that agree with the key's
  /// complement (`matches` counts those): every projection's sign reversed, as weight
  /// shifting or flipping every unit under a batch norm leaves it (written when true).
  bool bits_inverted = false;
  /// Under a query budget: the key's triggers asked for (indexes, drawn at random for
  /// each verification); empty when every trigger was asked for.
  std::vector<std::int64_t> queried_triggers;
  /// The suspect by content: SHA-256 (hex) of the model file verified, when it was read
  /// from one (wmark verify --model); empty otherwise (not written to JSON then).
  std::string model_sha256;
  /// A remote suspect: SHA-256 (hex) of the exact exchange with its server
  /// (RemoteClassifier::transcript_sha256); empty otherwise (not written to JSON then).
  std::string transcript_sha256;
  /// A remote suspect over https: SHA-256 (hex) of the server's TLS certificate
  /// (RemoteClassifier::tls_certificate_sha256); empty otherwise (not written to JSON then).
  std::string tls_certificate_sha256;
  /// Checked as one of a family (several suspects or keys at once): the family's size,
  /// and this test's Holm-adjusted log10 p-value, on which the decision then rests
  /// (Verifier::control_family_wise_error). 1 = checked alone (not written to JSON then).
  std::int64_t family_size = 1;
  /// The Holm-adjusted log10 p-value when family_size > 1.
  double family_log10_p_value = 0;
  /// When the verification ran, UTC ISO 8601 (the verifier's own clock).
  std::string verified_at;
  /// White-box keys holding a unit reference: how the suspect's hidden units were matched
  /// to the marked model's before the bits were read (watermark/unit_alignment.h);
  /// "plain_matches" is null and "plain_unreadable" says why when the suspect could be
  /// read only aligned (widened by dummy neurons). Null when the units were read as they
  /// are (not written to JSON then).
  nlohmann::json unit_alignment;
  /// A target-label key's control queries (Verifier): {"queries", "target_answers",
  /// "target_rate", "log10_p_value" (Fisher's exact test that the triggers get the target
  /// class more often than the unmarked control images), "binomial_log10_p_value"}; or
  /// {"missing": why} for a target-label key without control images, whose decision then
  /// rests on the binomial test alone. Null for other keys (not written to JSON then).
  nlohmann::json control;
  /// Keys whose scheme reads class scores (Scheme::reads_scores, e.g. dawn):
  /// {"read": "class scores", "label_matches", "label_counted", "label_log10_p_value",
  /// "statistic": "rank sum", "rank_levels", "rank_sum", "mean_rank", "null_mean_rank",
  /// "rank_sum_log10_p_value", "first_place_log10_p_value", "decided_by"} when the suspect
  /// gave scores: the p-value is then twice the smaller of the rank-sum test's
  /// (Scheme::score_ranks) and the labels' (Bonferroni), `matches` counts the queries
  /// whose key class ranked first (whose binomial p-value is "first_place_log10_p_value",
  /// reported only), and "label_*" say what its labels alone gave; or {"read":
  /// "labels", "why"} when the suspect gave none
  /// (or not one per class). When labels decide and the scheme counts fewer answers than
  /// were asked (Scheme::counted_queries: dawn counts those other than the victim's own
  /// class), also "counted" and "asked"; `queries` is then the counted ones. Null for
  /// other keys (not written to JSON then).
  nlohmann::json score_test;
  /// Whether the decision is "not verified" because the key was refused as not derivable.
  bool refused_key() const { return !key_derivation.empty() && key_derivation != "derived" && !key_forgeable; }
  /// Wall time of the verification.
  double seconds = 0;

  /// All fields plus "decision" as JSON; an infinite log10_p_value is written as null.
  nlohmann::json to_json() const;
  /// The decision in one line for people: "VERIFIED: 98/100 triggers matched (rate 0.98,
  /// chance 0.1), p-value ... (log10 ...)", "bits" for a multi-bit key, and the control
  /// images' count of target answers when they were sent.
  std::string summary() const;
};

}  // namespace wmark
