#include "wmark/claim/claim.h"

#include <cmath>

#include "wmark/util/error.h"
#include "wmark/util/files.h"
#include "wmark/util/json_limits.h"
#include "wmark/verify/statistics.h"

namespace fs = std::filesystem;

namespace wmark {
namespace {

using json = nlohmann::json;

constexpr const char* kClaimFormat = "wmark-claim-1";

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

// The report's own numbers must give its p-value and decision.
void check_report(const json& report, std::vector<std::string>& problems) {
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
  const double rate = static_cast<double>(k) / static_cast<double>(n);
  if (!close(match_rate->get<double>(), rate)) problems.push_back("report: match_rate is not matches / queries");
  const double recomputed = binomial_upper_tail_log10(k, n, p);
  const bool stored_ok = log10_p && (log10_p->is_null() ? std::isinf(recomputed)
                                                         : log10_p->is_number() && close(log10_p->get<double>(), recomputed));
  if (!stored_ok) problems.push_back("report: log10_p_value does not follow from matches, queries and chance rate");
  const bool decision = recomputed < std::log10(threshold->get<double>()) && rate >= min_rate->get<double>();
  if (decision != verified->get<bool>()) problems.push_back("report: the decision does not follow from its numbers");
  if (!decision) problems.push_back("report: ownership is not verified by its numbers");
}

}  // namespace

void sign_key(WatermarkKey& key, const Identity& owner) {
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

json make_claim(const WatermarkKey& key, const json& report, const Identity& owner) {
  const auto commitment = key.commitment();
  WMARK_CHECK(report.is_object() && report.value("key_commitment", json()) == commitment,
              "the report is for another key (its key_commitment is not this key's ", commitment, ")");
  WMARK_CHECK(report.value("verified", json()) == true,
              "the report does not verify ownership; a claim needs a verified report");
  WMARK_CHECK(key.signature.is_null() || key_signature_valid(key, owner.public_key()),
              "the key is signed by another identity (or its signature is invalid); claim with the identity that signed it");
  json claim = {{"format", kClaimFormat},
                {"created", utc_now_iso8601()},
                {"commitment", commitment},
                {"key", key.public_info()},
                {"report", report},
                {"owner", {{"algorithm", "ed25519"}, {"public_key", owner.public_key()}}}};
  claim["signature"] = owner.sign(claim_message(claim));
  const auto check = check_claim(claim, owner.public_key());
  WMARK_CHECK(check.valid, "the claim does not check: ", check.problems.empty() ? "" : check.problems.front());
  return claim;
}

ClaimCheck check_claim(const json& claim, const std::string& public_key_hex) {
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
  if (report) check_report(*report, problems);
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
