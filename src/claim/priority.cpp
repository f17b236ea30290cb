#include "wmark/claim/priority.h"

#include <cstdio>

#include "wmark/util/error.h"
#include "wmark/util/files.h"

namespace wmark {
namespace {

// Days from 1970-01-01 to the given proleptic Gregorian date (Howard Hinnant's algorithm).
std::int64_t days_from_civil(std::int64_t y, std::int64_t m, std::int64_t d) {
  y -= m <= 2;
  const std::int64_t era = y / 400;
  const std::int64_t yoe = y - era * 400;
  const std::int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const std::int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

bool leap(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

}  // namespace

std::int64_t parse_utc_time(const std::string& text, const std::string& what) {
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, s = 0, used = 0;
  const bool date_only = text.size() == 10 && std::sscanf(text.c_str(), "%4d-%2d-%2d%n", &y, &mo, &d, &used) == 3;
  const bool full = text.size() == 20 &&
                    std::sscanf(text.c_str(), "%4d-%2d-%2dT%2d:%2d:%2dZ%n", &y, &mo, &d, &h, &mi, &s, &used) == 6;
  static const int month_days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const bool valid = (date_only || full) && used == static_cast<int>(text.size()) && y >= 1970 && y <= 9999 &&
                     mo >= 1 && mo <= 12 && d >= 1 && d <= month_days[mo - 1] + (mo == 2 && leap(y)) && h <= 23 &&
                     mi <= 59 && s <= 60 && h >= 0 && mi >= 0 && s >= 0;
  WMARK_CHECK(valid, what, " '", text, "' is not an ISO 8601 UTC time (YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ)");
  return days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s;
}

KeyPriority check_key_priority(const WatermarkKey& key, const std::string& token_der, const std::string& trusted_pem,
                               const std::string& suspect_since, const std::string& source) {
  const auto since = parse_utc_time(suspect_since, "the suspect's time");
  KeyPriority priority;
  priority.timestamp = verify_timestamp_token(token_der, key.commitment(), trusted_pem, source);
  priority.predates = parse_utc_time(priority.timestamp.time, source + ": the token's time") < since;
  priority.statement = "key commitment " + key.commitment() + " time-stamped by " + priority.timestamp.tsa + " at " +
                       priority.timestamp.time + (priority.predates ? ", before" : ", not before") +
                       " the suspect's time " + suspect_since;
  return priority;
}

KeyPriority check_key_priority_file(const WatermarkKey& key, const std::filesystem::path& token_path,
                                    const std::string& trusted_pem, const std::string& suspect_since) {
  WMARK_CHECK(std::filesystem::is_regular_file(token_path), "no time-stamp token at ", token_path.string(),
              " (wmark timestamp makes one beside its key)");
  WMARK_CHECK(std::filesystem::file_size(token_path) <= kMaxTimestampBytes, token_path.string(),
              " is larger than any time-stamp token (", kMaxTimestampBytes, " bytes)");
  return check_key_priority(key, read_file(token_path), trusted_pem, suspect_since, token_path.string());
}

}  // namespace wmark
