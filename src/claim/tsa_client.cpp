#include "wmark/claim/tsa_client.h"

#include <httplib.h>

#include <chrono>
#include <regex>

#include "../util/bounded_http.h"
#include "wmark/util/error.h"
#include "../util/text.h"

namespace wmark {

std::filesystem::path timestamp_path(const std::filesystem::path& key_path) {
  auto path = key_path;
  path += ".tst";
  return path;
}

std::string request_timestamp(const std::string& commitment, const std::string& tsa_url,
                              const std::string& trusted_pem, double timeout_seconds) {
  static const std::regex url_pattern(R"((https?://[A-Za-z0-9.\-]+(?::[0-9]{1,5})?)(/[A-Za-z0-9._~/\-]*)?)");
  std::smatch parts;
  WMARK_CHECK(std::regex_match(tsa_url, parts, url_pattern), "TSA URL '", tsa_url.substr(0, 200),
              "' must look like http[s]://HOST[:PORT][/PATH]");
  WMARK_CHECK(timeout_seconds > 0, "the TSA timeout must be positive");
  const auto request = make_timestamp_request(commitment);
  const std::string path = parts[2].matched && parts[2].length() > 0 ? parts[2].str() : "/";
  const auto where = "TSA " + tsa_url;

  httplib::Client client(parts[1].str());
  WMARK_CHECK(client.is_valid(), "TSA URL '", tsa_url, "' is not usable");
  client.set_follow_location(false);
  const auto timeout = std::chrono::microseconds(static_cast<std::int64_t>(timeout_seconds * 1e6));
  client.set_connection_timeout(timeout);
  client.set_read_timeout(timeout);
  client.set_write_timeout(timeout);

  httplib::Request post;
  post.method = "POST";
  post.path = path;
  post.headers.emplace("Content-Type", "application/timestamp-query");
  post.headers.emplace("Accept", "application/timestamp-reply");
  post.body = request.der;
  const auto exchange = http::send_bounded(client, std::move(post), kMaxTimestampBytes);
  WMARK_CHECK(!exchange.too_large, where, ": the answer is larger than ", kMaxTimestampBytes, " bytes");
  WMARK_CHECK(exchange.sent, where, ": cannot reach it (", httplib::to_string(exchange.error), ")");
  const auto& response = exchange.response;
  WMARK_CHECK(response.status == 200, where, ": answered HTTP ", response.status, " (wmark follows no redirects)");
  const auto type = response.get_header_value("Content-Type");
  WMARK_CHECK(starts_with(type, "application/timestamp-reply"), where, ": answered Content-Type '",
              type.substr(0, 100), "', not application/timestamp-reply");
  return accept_timestamp_response(response.body, request, trusted_pem, where);
}

}  // namespace wmark
