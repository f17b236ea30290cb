// Internal: one HTTP exchange whose answer is counted as it arrives and cut at a cap,
// whatever its framing (a Content-Length announcing more is refused before the body),
// shared by the remote classifier and the TSA client.
#pragma once

#include <httplib.h>

#include <cstdint>
#include <cstdlib>
#include <string>

namespace wmark::http {

/// What send_bounded() got.
struct BoundedAnswer {
  bool sent = false;       ///< an answer arrived (false: connection error or cut at the cap)
  bool too_large = false;  ///< the answer was, or announced, more than the cap
  httplib::Error error = httplib::Error::Success;
  httplib::Response response;  ///< status, headers, and the body received
};

/// Sends `request` with `client`, keeping at most `cap` bytes of the answer's body.
inline BoundedAnswer send_bounded(httplib::Client& client, httplib::Request request, std::uint64_t cap) {
  BoundedAnswer answer;
  std::string received;
  request.response_handler = [&](const httplib::Response& head) {
    if (head.has_header("Content-Length") &&
        std::strtoull(head.get_header_value("Content-Length").c_str(), nullptr, 10) > cap)
      answer.too_large = true;
    return !answer.too_large;
  };
  request.content_receiver = [&](const char* data, std::size_t length, std::uint64_t, std::uint64_t) {
    if (received.size() + length > cap) {
      answer.too_large = true;
      return false;
    }
    received.append(data, length);
    return true;
  };
  answer.sent = client.send(request, answer.response, answer.error);
  answer.response.body = std::move(received);
  return answer;
}

}  // namespace wmark::http
