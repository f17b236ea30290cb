/// \file
/// Priority: whether a watermark key was fixed before a suspect model existed. A key's
/// unit reference (watermark/unit_alignment.h) is read off the marked model, not derived
/// from its secret, so a decision that rests on aligning a suspect to it is evidence
/// against a false accuser only if the key, reference included, is older than the
/// suspect: a time-stamp token over its commitment (claim/timestamp.h), checked against
/// TSAs the arbiter trusts, attesting a time before the suspect's.
///
/// The suspect's time is the arbiter's to set: the earliest time the suspect, or any model
/// it descends from, was available to anyone but its maker. An accuser who fitted a
/// reference to an earlier public ancestor of the suspect could stamp it before the
/// suspect itself appeared.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

#include "wmark/claim/timestamp.h"
#include "wmark/util/export.h"
#include "wmark/watermark/key.h"

namespace wmark {

/// What check_key_priority() found.
struct WMARK_API KeyPriority {
  bool predates = false;    ///< the attested time is strictly before the suspect's
  TimestampInfo timestamp;  ///< what the checked token states
  std::string statement;    ///< one sentence for reports, naming the commitment, the TSA and both times
};

/// Checks `token_der` (a time-stamp token over `key`'s commitment, signed by a TSA that
/// chains to `trusted_pem`) and compares the time it attests with `suspect_since` (ISO
/// 8601 UTC, "YYYY-MM-DD" or "YYYY-MM-DDTHH:MM:SSZ"). Throws wmark::Error naming `source`
/// for a token that does not check, and for a malformed time.
WMARK_API KeyPriority check_key_priority(const WatermarkKey& key, const std::string& token_der,
                                         const std::string& trusted_pem, const std::string& suspect_since,
                                         const std::string& source);

/// check_key_priority() on the time-stamp token in the file `token_path` (DER, as `wmark
/// timestamp` writes it beside the key). Throws wmark::Error naming the file if it is
/// missing or larger than any token (kMaxTimestampBytes), and as check_key_priority().
WMARK_API KeyPriority check_key_priority_file(const WatermarkKey& key, const std::filesystem::path& token_path,
                                              const std::string& trusted_pem, const std::string& suspect_since);

/// Seconds since 1970-01-01T00:00:00Z of an ISO 8601 UTC time, "YYYY-MM-DD" (midnight) or
/// "YYYY-MM-DDTHH:MM:SSZ", years 1970 to 9999. Throws wmark::Error naming `what` otherwise.
WMARK_API std::int64_t parse_utc_time(const std::string& text, const std::string& what);

}  // namespace wmark
