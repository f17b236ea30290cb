#include "wmark/claim/claim.h"

#include <cmath>
#include <optional>

#include "wmark/util/encoding.h"
#include "wmark/util/error.h"
#include "wmark/util/files.h"
#include "wmark/util/json_limits.h"
#include "wmark/util/sha256.h"
#include "wmark/verify/statistics.h"
#include "wmark/watermark/scheme.h"

namespace fs = std::filesystem;

namespace wmark {
namespace {

using json = nlohmann::json;

constexpr const char* kClaimFormat = "wmark-claim-1";
constexpr const char* kTimestampFormat = "rfc3161";
// The weakest evidence a claim may rest on (the verifier's defaults).
constexpr double kClaimMaxPThreshold = 1e-6;
constexpr double kClaimMinMatchRate = 0.5;

// What a key signature covers: the commitment and the public metadata.
std::string key_signature_message(const json& fields) { return "wmark-key-signature-v1\n" + fields.dump(); }

json key_signed_fields(const WatermarkKey& key, const std::string& signed_at) {
  return {{"commitment", key.commitment()}, {"method", key.method},           {"dataset", key.dataset},
          {"num_classes", key.num_classes}, {"input_shape", key.input_shape}, {"created", key.created},
          {"signed_at", signed_at}};
}

std::string claim_message(json claim) {
  claim.erase("signature");
  return "wmark-claim-v1\n" + claim.dump();
}

bool close(double a, double b) { return std::fabs(a - b) <= 1e-9 * std::max(1.0, std::fabs(b)); }

// Typed field access that records a problem instead of throwing.
class Reader {
 public:
  explicit Reader(std::vector<std::string>& problems) : problems_(problems) {}
  const json* get(const json& object, const std::string& key, json::value_t type, const std::string& where) {
    if (!object.is_object()) return nullptr;
    auto it = object.find(key);
    // Numbers as parsed: any number for a float, signed or unsigned for an integer.
    const bool typed = it != object.end() && (type == json::value_t::number_float     ? it->is_number()
                                              : type == json::value_t::number_integer ? it->is_number_integer()
                                                                                      : it->type() == type);
    if (!typed) {
      problems_.push_back(where + "\"" + key + "\" is missing or has the wrong type");
      return nullptr;
    }
    return &*it;
  }
  std::string text(const json& object, const std::string& key, const std::string& where) {
    const auto* v = get(object, key, json::value_t::string, where);
    return v ? v->get<std::string>() : std::string();
  }

 private:
  std::vector<std::string>& problems_;
};

// What the key itself allows a report to claim, from the claim's copy of the key info.
struct KeyBounds {
  double chance_floor = 0;      // chance_rate_floor() of the key
  std::int64_t max_queries = 0;  // triggers (black-box) or bits (white-box) in the key
  std::int64_t controls = 0;     // control images in the key (target-label trigger sets)
};

std::optional<KeyBounds> key_bounds(const json& key, std::vector<std::string>& problems) {
  Reader read(problems);
  const auto method = read.text(key, "method", "key: ");
  const auto* classes = read.get(key, "num_classes", json::value_t::number_integer, "key: ");
  const auto* tensors = read.get(key, "tensors", json::value_t::object, "key: ");
  if (method.empty() || !classes || !tensors) return std::nullopt;
  const auto num_classes = classes->get<std::int64_t>();
  if (num_classes < 2 || num_classes > (1 << 24)) {
    problems.push_back("key: num_classes out of range");
    return std::nullopt;
  }
  KeyBounds bounds;
  // The public info carries the params a scheme's floor reads (label policy, generator).
  bounds.chance_floor = chance_rate_floor(method, key, num_classes);
  // The count of what the report may have compared: the labels' first dimension, or
  // every bit of the bit string.
  const bool black_box = is_black_box_method(method);
  const auto* shape = tensors->contains(black_box ? "labels" : "bits") ? &(*tensors)[black_box ? "labels" : "bits"] : nullptr;
  if (!shape || !shape->is_array() || shape->empty() || shape->size() > 8) {
    problems.push_back(std::string("key: the shape of its ") + (black_box ? "labels" : "bits") + " is missing");
    return std::nullopt;
  }
  std::int64_t count = 1;
  for (const auto& d : *shape) {
    if (!d.is_number_integer() || d.get<std::int64_t>() < 0 || d.get<std::int64_t>() > (std::int64_t{1} << 40)) {
      problems.push_back("key: a dimension of its tensor shapes is out of range");
      return std::nullopt;
    }
    count *= black_box ? 1 : d.get<std::int64_t>();
  }
  bounds.max_queries = black_box ? (*shape)[0].get<std::int64_t>() : count;
  if (black_box && tensors->contains("control_images")) {
    const auto& controls = (*tensors)["control_images"];
    if (!controls.is_array() || controls.empty() || !controls[0].is_number_integer() ||
        controls[0].get<std::int64_t>() < 1 || controls[0].get<std::int64_t>() > (std::int64_t{1} << 40)) {
      problems.push_back("key: the shape of its control images is out of range");
      return std::nullopt;
    }
    bounds.controls = controls[0].get<std::int64_t>();
  }
  return bounds;
}

// Fisher's log10 p-value from a report's control answers (k of n triggers matched), or
// nothing with a problem noted when they are missing or out of range.
std::optional<double> control_test(const json& report, std::int64_t k, std::int64_t n, std::int64_t key_controls,
                                   std::vector<std::string>& problems) {
  Reader read(problems);
  const auto* control = read.get(report, "control", json::value_t::object, "report: ");
  if (!control) return std::nullopt;
  const auto* asked = read.get(*control, "queries", json::value_t::number_integer, "report: control: ");
  const auto* target = read.get(*control, "target_answers", json::value_t::number_integer, "report: control: ");
  if (!asked || !target) return std::nullopt;
  const auto m = asked->get<std::int64_t>(), t = target->get<std::int64_t>();
  if (m < 1 || m > key_controls || t < 0 || t > m || n + m > kMaxFisherCount) {
    problems.push_back("report: control: " + std::to_string(t) + " of " + std::to_string(m) +
                       " control answers, but the key has " + std::to_string(key_controls) + " control images");
    return std::nullopt;
  }
  return fisher_exact_greater_log10(k, n, t, m);
}

// The report's numbers must give its p-value and decision, within what the key allows
// and the minimum standard of evidence: the p-value is recomputed at the chance rate
// the key's label policy implies when the report states a lower one.
void check_report(const json& report, const KeyBounds& bounds, std::vector<std::string>& problems) {
  Reader read(problems);
  const auto* queries = read.get(report, "queries", json::value_t::number_integer, "report: ");
  const auto* matches = read.get(report, "matches", json::value_t::number_integer, "report: ");
  const auto* match_rate = read.get(report, "match_rate", json::value_t::number_float, "report: ");
  const auto* chance = read.get(report, "chance_rate", json::value_t::number_float, "report: ");
  const auto* threshold = read.get(report, "p_threshold", json::value_t::number_float, "report: ");
  const auto* min_rate = read.get(report, "min_match_rate", json::value_t::number_float, "report: ");
  const auto* verified = read.get(report, "verified", json::value_t::boolean, "report: ");
  const auto* log10_p = report.is_object() && report.contains("log10_p_value") ? &report["log10_p_value"] : nullptr;
  if (!queries || !matches || !match_rate || !chance || !threshold || !min_rate || !verified) return;
  const auto n = queries->get<std::int64_t>();
  const auto k = matches->get<std::int64_t>();
  const auto p = chance->get<double>();
  if (n <= 0 || k < 0 || k > n || !(p > 0 && p < 1) || !(threshold->get<double>() > 0 && threshold->get<double>() < 1)) {
    problems.push_back("report: queries, matches, chance rate or p threshold out of range");
    return;
  }
  if (n > bounds.max_queries) {
    problems.push_back("report: " + std::to_string(n) + " queries, but the key has only " +
                       std::to_string(bounds.max_queries) + " triggers or bits to query");
    return;
  }
  if (threshold->get<double>() > kClaimMaxPThreshold)
    problems.push_back("report: its p threshold is above 1e-6, weaker than a claim may use");
  if (min_rate->get<double>() < kClaimMinMatchRate)
    problems.push_back("report: its minimum match rate is below 0.5, weaker than a claim may use");
  if (p < bounds.chance_floor)
    problems.push_back("report: its chance rate " + std::to_string(p) + " is below the " +
                       std::to_string(bounds.chance_floor) + " the key's label policy implies");
  const double rate = static_cast<double>(k) / static_cast<double>(n);
  if (!close(match_rate->get<double>(), rate)) problems.push_back("report: match_rate is not matches / queries");
  // A key with control images: the report must give the suspect's answers to them, and
  // its p-value is the larger of the binomial's and Fisher's (verify/verifier.h).
  std::optional<double> control_log10;
  if (bounds.controls > 0) control_log10 = control_test(report, k, n, bounds.controls, problems);
  if (bounds.controls > 0 && !control_log10) return;
  const double stated = std::max(binomial_upper_tail_log10(k, n, p), control_log10.value_or(-INFINITY));
  const bool stored_ok = log10_p && (log10_p->is_null() ? std::isinf(stated)
                                                         : log10_p->is_number() && close(log10_p->get<double>(), stated));
  if (!stored_ok) problems.push_back("report: log10_p_value does not follow from matches, queries and chance rate");
  const bool stated_decision = stated < std::log10(threshold->get<double>()) && rate >= min_rate->get<double>();
  if (stated_decision != verified->get<bool>()) problems.push_back("report: the decision does not follow from its numbers");
  // The decision an arbiter makes: the key's chance rate (or the report's, if higher),
  // and thresholds no weaker than the claim minimum.
  const double sound = std::max(binomial_upper_tail_log10(k, n, std::max(p, bounds.chance_floor)),
                                control_log10.value_or(-INFINITY));
  const double sound_threshold = std::min(threshold->get<double>(), kClaimMaxPThreshold);
  if (!(sound < std::log10(sound_threshold) && rate >= std::max(min_rate->get<double>(), kClaimMinMatchRate)))
    problems.push_back("report: ownership is not verified by its numbers");
}

// The claim's time stamp, if any: well formed always, and signed by a trusted TSA over
// the claim's commitment when the caller gives TSA certificates.
void check_timestamp(const json& claim, const std::string& commitment, const std::optional<std::string>& trusted_pem,
                     ClaimCheck& result) {
  auto& problems = result.problems;
  if (!claim.contains("timestamp")) {
    if (trusted_pem) problems.push_back("the claim carries no time stamp, so nothing attests when its key existed");
    return;
  }
  result.has_timestamp = true;
  Reader read(problems);
  const auto* stamp = read.get(claim, "timestamp", json::value_t::object, "");
  if (!stamp) return;
  if (read.text(*stamp, "format", "timestamp: ") != kTimestampFormat)
    problems.push_back(std::string("timestamp: format is not ") + kTimestampFormat);
  const auto token = base64_decode(read.text(*stamp, "token", "timestamp: "), kMaxTimestampBytes);
  if (!token) {
    problems.push_back("timestamp: the token is not Base64 of at most " + std::to_string(kMaxTimestampBytes) + " bytes");
    return;
  }
  try {
    if (trusted_pem)
      result.timestamp = verify_timestamp_token(*token, commitment, *trusted_pem, "timestamp");
    else if (read_timestamp_token(*token, "timestamp").imprint_sha256 != sha256_hex(commitment))
      problems.push_back("timestamp: the token stamps another commitment");
  } catch (const Error& error) {
    problems.push_back(error.what());
  }
}

}  // namespace

void sign_key(WatermarkKey& key, const Identity& owner) {
  WMARK_CHECK(key.legacy_seed || key.secret.owner_public_key == owner.public_key(),
              key.secret.owner_public_key.empty()
                  ? "the key's secret is not bound to an owner; sign it as it is made (wmark embed --sign IDENTITY)"
                  : "the key's secret is bound to another owner; sign it with that owner's identity");
  const auto fields = key_signed_fields(key, utc_now_iso8601());
  key.signature = {{"algorithm", "ed25519"},
                   {"public_key", owner.public_key()},
                   {"signed_at", fields["signed_at"]},
                   {"value", owner.sign(key_signature_message(fields))}};
}

bool key_signature_valid(const WatermarkKey& key, const std::string& public_key_hex) {
  const auto& s = key.signature;
  if (!s.is_object() || s.value("algorithm", json()) != "ed25519" || !s.contains("signed_at") ||
      !s["signed_at"].is_string() || !s.contains("value") || !s["value"].is_string() ||
      s.value("public_key", json()) != public_key_hex)
    return false;
  return verify_signature(public_key_hex, key_signature_message(key_signed_fields(key, s["signed_at"].get<std::string>())),
                          s["value"].get<std::string>());
}

json make_claim(const WatermarkKey& key, const json& report, const Identity& owner, const std::string& timestamp_token) {
  const auto commitment = key.commitment();
  WMARK_CHECK(report.is_object() && report.value("key_commitment", json()) == commitment,
              "the report is for another key (its key_commitment is not this key's ", commitment, ")");
  WMARK_CHECK(report.value("verified", json()) == true,
              "the report does not verify ownership; a claim needs a verified report");
  WMARK_CHECK(report.value("key_derivation", json()) == "derived",
              "the report does not show the key re-derived from its secret (wmark verify does that; a key that is "
              "not derivable could have been chosen after seeing the suspect)");
  WMARK_CHECK(!key.signature.is_null(),
              "the key is not signed; a claim needs a key signed when it was embedded (wmark embed --sign IDENTITY)");
  WMARK_CHECK(key_signature_valid(key, owner.public_key()),
              "the key is signed by another identity (or its signature is invalid); claim with the identity that signed it");
  json claim = {{"format", kClaimFormat},
                {"created", utc_now_iso8601()},
                {"commitment", commitment},
                {"key", key.public_info()},
                {"report", report},
                {"owner", {{"algorithm", "ed25519"}, {"public_key", owner.public_key()}}}};
  if (!timestamp_token.empty()) {
    const auto stamped = read_timestamp_token(timestamp_token, "the time-stamp token");
    WMARK_CHECK(stamped.imprint_sha256 == sha256_hex(commitment),
                "the time-stamp token is over another commitment, not this key's ", commitment);
    claim["timestamp"] = {{"format", kTimestampFormat}, {"token", base64_encode(timestamp_token)}};
  }
  claim["signature"] = owner.sign(claim_message(claim));
  const auto check = check_claim(claim, owner.public_key());
  WMARK_CHECK(check.valid, "the claim does not check: ", check.problems.empty() ? "" : check.problems.front());
  return claim;
}

ClaimCheck check_claim(const json& claim, const std::string& public_key_hex, const ClaimCheckOptions& options) {
  ClaimCheck result;
  auto& problems = result.problems;
  if (!claim.is_object()) {
    problems.push_back("the claim is not a JSON object");
    return result;
  }
  Reader read(problems);
  if (read.text(claim, "format", "") != kClaimFormat) problems.push_back(std::string("format is not ") + kClaimFormat);
  const auto* owner = read.get(claim, "owner", json::value_t::object, "");
  const auto signer = owner ? read.text(*owner, "public_key", "owner: ") : std::string();
  if (owner && signer != public_key_hex)
    problems.push_back("signed by another key (fingerprint " + public_key_fingerprint(signer) + ", not " +
                       public_key_fingerprint(public_key_hex) + ")");
  const auto signature = read.text(claim, "signature", "");
  if (!verify_signature(public_key_hex, claim_message(claim), signature))
    problems.push_back("the signature does not match the claim: it was altered or signed by another key");

  const auto commitment = read.text(claim, "commitment", "");
  const auto* report = read.get(claim, "report", json::value_t::object, "");
  const auto* key = read.get(claim, "key", json::value_t::object, "");
  if (report && read.text(*report, "key_commitment", "report: ") != commitment)
    problems.push_back("the report is for another key (key_commitment differs from the claim's commitment)");
  if (key && read.text(*key, "commitment", "key: ") != commitment)
    problems.push_back("the key info names another commitment");
  if (report && key && report->value("method", json()) != key->value("method", json()))
    problems.push_back("the report's method differs from the key's");
  if (report && report->value("key_derivation", json()) != "derived")
    problems.push_back("the report does not show the key re-derived from its secret: it could have been chosen "
                       "after seeing the suspect");
  if (key && key->value("owner", json()) != public_key_hex)
    problems.push_back("the key's secret is not bound to this owner (a legacy key, or another owner's)");
  if (key && !key->contains("signature"))
    problems.push_back("the key is not signed: nothing shows that this owner held it before the claim");
  if (key && key->contains("signature")) {
    // The key's own signature, made when it was embedded, by the same owner.
    const auto& s = (*key)["signature"];
    const bool shaped = s.is_object() && s.value("public_key", json()) == public_key_hex && s.contains("signed_at") &&
                        s["signed_at"].is_string() && s.contains("value") && s["value"].is_string();
    json fields = {{"commitment", commitment},
                   {"method", key->value("method", json())},
                   {"dataset", key->value("dataset", json())},
                   {"num_classes", key->value("num_classes", json())},
                   {"input_shape", key->value("input_shape", json())},
                   {"created", key->value("created", json())},
                   {"signed_at", shaped ? s["signed_at"] : json()}};
    if (!shaped || !verify_signature(public_key_hex, key_signature_message(fields), s["value"].get<std::string>()))
      problems.push_back("the key's signature is invalid or by another key");
  }
  check_timestamp(claim, commitment, options.tsa_certificates_pem, result);
  const auto& model_sha256 = options.model_sha256;
  if (model_sha256 && report) {
    const auto named = report->value("model_sha256", json());
    if (!named.is_string())
      problems.push_back("the claim names no model file by content (a remote suspect, or an older report), so it "
                         "cannot be checked against one");
    else if (named.get<std::string>() != *model_sha256)
      problems.push_back("the claim is for another model: its model_sha256 is not this file's");
  }
  const auto bounds = key ? key_bounds(*key, problems) : std::nullopt;
  if (report && bounds) check_report(*report, *bounds, problems);
  result.valid = problems.empty();
  return result;
}

json read_json_object(const fs::path& path) {
  WMARK_CHECK(fs::is_regular_file(path), "file ", path.string(), " does not exist");
  const auto text = read_file(path);
  check_json_nesting(text, kMaxJsonDepth, path.string());  // before check-claim copies and dumps it
  auto document = json::parse(text, nullptr, false);
  WMARK_CHECK(!document.is_discarded(), path.string(), ": malformed JSON");
  WMARK_CHECK(document.is_object(), path.string(), ": expected a JSON object");
  return document;
}

}  // namespace wmark
