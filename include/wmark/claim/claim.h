/// \file
/// Signed ownership: the owner's signature on a watermark key, and claim bundles that
/// anyone holding the owner's public key can check without the secret triggers.
///
/// A key signature (WatermarkKey::signature) signs "wmark-key-signature-v1\n" followed
/// by the JSON {commitment, method, dataset, num_classes, input_shape, created,
/// signed_at}. A claim is a JSON object
///   {"format": "wmark-claim-1", "created", "commitment", "key": KEY_INFO,
///    "report": REPORT, "owner": {"algorithm", "public_key"}, "signature": HEX}
/// (KEY_INFO: WatermarkKey::public_info(); REPORT: VerificationReport::to_json())
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
/// --report`) of `key`, signed by `owner`. Throws wmark::Error if the report is for
/// another key, does not verify ownership, or the key is signed by someone else.
WMARK_API nlohmann::json make_claim(const WatermarkKey& key, const nlohmann::json& report, const Identity& owner);

/// What check_claim() found.
struct WMARK_API ClaimCheck {
  bool valid = false;                 ///< every check passed
  std::vector<std::string> problems;  ///< why not, one line each
};

/// Checks a claim against the owner's public key: format, signature, that report, key
/// info and key signature name the same commitment, and that the report's numbers give
/// its p-value and decision. With `model_sha256` (the SHA-256 of the file the arbiter
/// holds), also that the claim's report names that file by content: a claim made for
/// another model, or for a remote suspect (named by URL and transcript), is refused.
/// Never throws for a malformed claim: that is a problem.
WMARK_API ClaimCheck check_claim(const nlohmann::json& claim, const std::string& public_key_hex,
                                 const std::optional<std::string>& model_sha256 = std::nullopt);

/// Reads a JSON document; throws wmark::Error naming the file if it is missing, not
/// JSON, or not an object.
WMARK_API nlohmann::json read_json_object(const std::filesystem::path& path);

}  // namespace wmark
