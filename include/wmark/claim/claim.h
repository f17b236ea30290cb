/// \file
/// Signed ownership: the owner's signature on a watermark key, and claim bundles that
/// anyone holding the owner's public key can check without the secret triggers.
///
/// A key signature (WatermarkKey::signature) signs "wmark-key-signature-v1\n" followed
/// by the JSON {commitment, method, dataset, num_classes, input_shape, created,
/// signed_at}. A claim is a JSON object
///   {"format": "wmark-claim-1", "created", "commitment", "key": KEY_INFO,
///    "report": REPORT, "owner": {"algorithm", "public_key"},
///    ["timestamp": {"format": "rfc3161", "token": BASE64},] "signature": HEX}
/// (KEY_INFO: WatermarkKey::public_info(); REPORT: VerificationReport::to_json(); the
/// optional timestamp: an RFC 3161 token over the commitment, claim/timestamp.h)
/// whose signature covers "wmark-claim-v1\n" and the claim without its signature,
/// dumped with sorted keys. Checking it recomputes the report's p-value and decision,
/// so a claim cannot assert more than its own numbers support.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "wmark/claim/identity.h"
#include "wmark/claim/timestamp.h"
#include "wmark/util/export.h"
#include "wmark/watermark/key.h"

namespace wmark {

/// Signs the key's commitment and public metadata as `owner` (sets key.signature).
/// Requires a key whose secret is bound to `owner` (KeySecret::owner_public_key), or a
/// legacy key; throws wmark::Error otherwise.
WMARK_API void sign_key(WatermarkKey& key, const Identity& owner);

/// Whether `key` carries a valid signature by `public_key_hex`.
WMARK_API bool key_signature_valid(const WatermarkKey& key, const std::string& public_key_hex);

/// A claim bundle for `report` (a VerificationReport as JSON, e.g. from `wmark verify
/// --report`) of `key`, signed by `owner`, carrying `timestamp_token` (DER, from
/// `wmark timestamp`) when it is not empty. Throws wmark::Error if the report is for
/// another key, does not verify ownership, the key is signed by someone else, or the
/// token stamps another commitment.
WMARK_API nlohmann::json make_claim(const WatermarkKey& key, const nlohmann::json& report, const Identity& owner,
                                    const std::string& timestamp_token = {});

/// What check_claim() checks besides the claim itself.
struct WMARK_API ClaimCheckOptions {
  /// The SHA-256 of the model file the arbiter holds: the claim's report must name that
  /// file by content (a claim for another model, or for a remote suspect, is refused).
  std::optional<std::string> model_sha256;
  /// PEM certificates of the time-stamping authorities the arbiter trusts: the claim must
  /// carry a time stamp over its commitment signed by one of them.
  std::optional<std::string> tsa_certificates_pem;
};

/// What check_claim() found.
struct WMARK_API ClaimCheck {
  bool valid = false;                     ///< every check passed
  std::vector<std::string> problems;      ///< why not, one line each
  bool has_timestamp = false;             ///< the claim carries a time-stamp token
  std::optional<TimestampInfo> timestamp;  ///< what the token attests, when checked against a trusted TSA
};

/// Checks a claim against the owner's public key: format, signature, that report, key
/// info and key signature name the same commitment, and that the report's numbers give
/// its p-value and decision; and what `options` asks for (the model file, the time
/// stamp). A time stamp is only checked against TSA certificates the caller trusts.
/// Never throws for a malformed claim: that is a problem.
WMARK_API ClaimCheck check_claim(const nlohmann::json& claim, const std::string& public_key_hex,
                                 const ClaimCheckOptions& options = {});

/// Reads a JSON document; throws wmark::Error naming the file if it is missing, not
/// JSON, or not an object.
WMARK_API nlohmann::json read_json_object(const std::filesystem::path& path);

}  // namespace wmark
