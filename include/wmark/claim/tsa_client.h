/// \file
/// Asks a time-stamping authority for an RFC 3161 token over a key's commitment, by HTTP
/// POST (application/timestamp-query), and keeps it beside the key.
#pragma once

#include <filesystem>
#include <string>

#include "wmark/claim/timestamp.h"
#include "wmark/util/export.h"

namespace wmark {

/// Where a key's token is kept: the key's path with ".tst" appended.
WMARK_API std::filesystem::path timestamp_path(const std::filesystem::path& key_path);

/// Requests a token over `commitment` from the TSA at `tsa_url` ("http[s]://HOST[:PORT][/PATH]",
/// no redirects followed, the answer capped at kMaxTimestampBytes) and accepts it against
/// `trusted_pem` (accept_timestamp_response). Returns the token (DER). Throws wmark::Error
/// naming the TSA when it is unreachable, answers an error, or its token does not check.
WMARK_API std::string request_timestamp(const std::string& commitment, const std::string& tsa_url,
                                        const std::string& trusted_pem, double timeout_seconds = 30);

}  // namespace wmark
