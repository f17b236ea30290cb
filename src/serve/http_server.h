// An HTTP/1.1 server that holds against a hostile network (internal to wmark serve).
//
// Why not cpp-httplib: it enforces the body limit only when a Content-Length is sent,
// holds a worker thread per connection for as long as a client trickles bytes, and has
// no cap on connections. This server is asynchronous (Boost.Beast on Asio): a slow or
// idle connection holds no thread, only its socket and a small buffer, and
//   - every request has one deadline for its headers and body together, and every
//     response one for its writing; a connection waiting for its next request is
//     closed at the same deadline;
//   - headers are bounded (431), bodies are bounded whatever their framing: Content-Length
//     is checked before reading, chunked and length-less bodies are counted as they
//     arrive (413); compressed bodies are refused (415) rather than inflated;
//   - body bytes buffered over all connections are bounded (503 past the budget);
//   - open connections are capped in total and per client address; at the cap a new
//     connection evicts the connection whose request started longest ago (slow or idle
//     clients go first, a busy healthy client stays), and the accept queue is the
//     kernel's bounded backlog;
//   - error answers close the connection after a short, bounded drain (lingering close),
//     so a client still sending its body reads the status instead of a reset.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace wmark::serve {

class Connection;

/// Limits of the hardened server; see the file comment.
struct HttpLimits {
  std::size_t max_body_bytes = 32u << 20;
  std::size_t max_header_bytes = 16u << 10;
  std::size_t max_buffered_body_bytes = 256u << 20;  // over all connections
  std::chrono::milliseconds request_timeout{10000};  // headers + body; also the idle keep-alive time
  std::chrono::milliseconds linger{1000};            // draining a refused request's body
  int max_connections = 256;
  int max_connections_per_client = 64;
  int accept_backlog = 128;
};

/// A request as the handler sees it: the body is complete and within the limits.
struct HttpRequest {
  std::string method;
  std::string path;  // the target without its query string
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  /// The client's IP address, as the server saw it.
  std::string client;
  /// The value of header `name` (case-insensitive), or nullptr.
  const std::string* header(const std::string& name) const;
};

/// A handler's answer.
struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
};

/// Called on a worker thread for every complete request; may throw nothing.
using HttpHandler = std::function<HttpResponse(const HttpRequest&)>;
/// Called after every answer (including refusals made before a handler ran).
using HttpLogger = std::function<void(const std::string& method, const std::string& path, int status,
                                      std::size_t bytes_in, std::size_t bytes_out)>;
/// Builds the body of an answer the server gives itself (413, 431, 415, 503, ...).
using HttpErrorBody = std::function<std::string(int status, const std::string& message)>;

/// The server. start() binds and runs `threads` worker threads; stop() closes every
/// connection, lets requests being handled finish, and joins the threads.
class HttpServer {
 public:
  HttpServer(HttpLimits limits, HttpHandler handler, HttpLogger logger, HttpErrorBody error_body);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  /// Binds host:port (0 = any free port) and starts; returns the port. Throws
  /// wmark::Error when the address cannot be bound.
  int start(const std::string& host, int port, int threads);
  void stop();
  /// Connections open now (for tests and stats).
  int open_connections() const;

 private:
  friend class Connection;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace wmark::serve
