#include "http_server.h"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <map>
#include <mutex>
#include <optional>
#include <thread>

#include "wmark/util/error.h"

namespace wmark::serve {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;

// Bytes of a request body read per call (the connection's buffer holds the headers and this).
constexpr std::size_t kBodyReadBytes = 64u << 10;

std::string text(beast::string_view view) { return std::string(view.data(), view.size()); }

bool iequals(const std::string& a, const std::string& b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

}  // namespace

const std::string* HttpRequest::header(const std::string& name) const {
  for (const auto& [key, value] : headers) {
    if (iequals(key, name)) return &value;
  }
  return nullptr;
}

class Connection;

struct HttpServer::Impl {
  HttpLimits limits;
  HttpHandler handler;
  HttpLogger logger;
  HttpErrorBody error_body;
  std::atomic<bool> stopping{false};
  std::atomic<std::size_t> buffered{0};  // body bytes held by all connections

  mutable std::mutex registry_mutex;
  std::map<std::uint64_t, std::weak_ptr<Connection>> connections;
  std::map<std::string, int> per_client;
  std::uint64_t next_id = 0;
  int evicting = 0;  // connections told to close, not yet gone

  // Declared after what connections use when they are destroyed: pending handlers
  // (and the connections they hold) go with the io_context, before the registry.
  net::io_context ioc;
  std::optional<tcp::acceptor> acceptor;
  std::optional<net::steady_timer> accept_retry;
  // Keeps the worker threads in run() until stop() ends them: without it they return as
  // soon as nothing is pending (acceptor closed, clients gone), and what stop() posts
  // afterwards would never run.
  std::optional<net::executor_work_guard<net::io_context::executor_type>> keep_running;
  std::vector<std::thread> threads;

  void accept();
  void admit(tcp::socket socket);
  void forget(std::uint64_t id, const std::string& client, bool evicted);
};

// One client connection: reads requests one after another under a deadline, answers
// each through the handler, and closes on the first refusal.
class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(HttpServer::Impl& server, tcp::socket socket, std::uint64_t id, std::string client)
      : server_(server), stream_(std::move(socket)), buffer_(server.limits.max_header_bytes + kBodyReadBytes),
        id_(id), client_(std::move(client)) {}
  ~Connection() {
    release_body();
    server_.forget(id_, client_, evicted);
  }

  void start() {
    net::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->read_header(); });
  }
  // From any thread: cut the connection unless a handler is running.
  void close_soon() {
    net::post(stream_.get_executor(), [self = shared_from_this()] {
      if (!self->busy_) self->close();
    });
  }
  bool busy() const { return busy_; }
  const std::string& client() const { return client_; }
  bool evicted = false;  // chosen for eviction (guarded by the registry's mutex)
  Clock::rep request_started() const { return request_started_; }

 private:
  void read_header() {
    if (server_.stopping) return close();
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(server_.limits.max_header_bytes));
    parser_->body_limit(server_.limits.max_body_bytes);
    request_started_ = Clock::now().time_since_epoch().count();
    // One deadline for the whole request: headers and body, however slowly they come.
    stream_.expires_after(server_.limits.request_timeout);
    http::async_read_header(stream_, buffer_, *parser_,
                            [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_header(ec); });
  }

  void on_header(beast::error_code ec) {
    if (ec) return failed_read(ec);
    const auto& req = parser_->get();
    const auto encoding = text(req[http::field::content_encoding]);
    if (!encoding.empty() && !iequals(encoding, "identity"))
      return refuse(415, "compressed request bodies are not accepted; send the body uncompressed");
    const auto length = parser_->content_length();
    if (length && server_.buffered + *length > server_.limits.max_buffered_body_bytes)
      return refuse(503, "the server is holding too many request bodies; retry later");
    // Beast reads at most the buffer's free capacity (512 bytes when it has none) per
    // call: without room made, a 1 MB body took 2,000 reads and trips through the loop.
    if (!parser_->is_done() && (!length || *length > 512))
      buffer_.reserve(std::min<std::size_t>(kBodyReadBytes, buffer_.max_size()));
    if (iequals(text(req[http::field::expect]), "100-continue")) {
      auto interim = std::make_shared<http::response<http::empty_body>>(http::status::continue_, req.version());
      return http::async_write(stream_, *interim, [self = shared_from_this(), interim](beast::error_code e, std::size_t) {
        if (e) return self->close();
        self->read_body();
      });
    }
    read_body();
  }

  void read_body() {
    if (parser_->is_done()) return handle();
    http::async_read_some(stream_, buffer_, *parser_,
                          [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_body(ec); });
  }

  void on_body(beast::error_code ec) {
    if (ec) return failed_read(ec);
    // Chunked and length-less bodies are counted as they arrive: the parser's body
    // limit cuts each at max_body_bytes, and the budget bounds them all together.
    const auto held = parser_->get().body().capacity();
    if (held > charged_) {
      server_.buffered += held - charged_;
      charged_ = held;
    }
    if (server_.buffered > server_.limits.max_buffered_body_bytes)
      return refuse(503, "the server is holding too many request bodies; retry later");
    read_body();
  }

  void failed_read(beast::error_code ec) {
    if (ec == http::error::body_limit)
      return refuse(413, "request body larger than " + std::to_string(server_.limits.max_body_bytes) + " bytes");
    if (ec == http::error::header_limit || ec == http::error::buffer_overflow)
      return refuse(431, "request headers larger than " + std::to_string(server_.limits.max_header_bytes) + " bytes");
    // Closed, reset, cut at the deadline, or the server is stopping: nothing to answer.
    if (ec == http::error::end_of_stream || ec == http::error::partial_message || ec == beast::error::timeout ||
        ec == net::error::eof || ec == net::error::operation_aborted || ec == net::error::connection_reset ||
        ec == net::error::bad_descriptor || ec == net::error::broken_pipe)
      return close();
    refuse(400, "malformed HTTP request");
  }

  void handle() {
    busy_ = true;
    auto& req = parser_->get();
    HttpRequest request;
    request.method = text(req.method_string());
    const auto target = text(req.target());
    request.path = target.substr(0, target.find('?'));
    for (const auto& field : req) request.headers.emplace_back(text(field.name_string()), text(field.value()));
    request.body = std::move(req.body());
    request.client = client_;
    const auto bytes_in = request.body.size();
    HttpResponse response;
    try {
      response = server_.handler(request);
    } catch (...) {
      response = {500, "application/json", server_.error_body(500, "internal error"), {}};
    }
    request.body = std::string();
    release_body();
    const bool keep_alive = req.keep_alive() && !server_.stopping;
    write(std::move(response), keep_alive, request.method, request.path, bytes_in);
  }

  // Answers without a handler and closes after a bounded drain.
  void refuse(int status, const std::string& message) {
    busy_ = true;
    release_body();
    std::string method = "-", path = "-";
    if (parser_ && parser_->is_header_done()) {
      method = text(parser_->get().method_string());
      path = text(parser_->get().target()).substr(0, 128);
    }
    write({status, "application/json", server_.error_body(status, message), {}}, false, method, path, 0);
  }

  void write(HttpResponse response, bool keep_alive, const std::string& method, const std::string& path,
             std::size_t bytes_in) {
    auto res = std::make_shared<http::response<http::string_body>>(static_cast<http::status>(response.status), 11);
    res->set(http::field::server, "wmark");
    res->set(http::field::content_type, response.content_type);
    for (const auto& [name, value] : response.headers) res->set(name, value);
    res->body() = std::move(response.body);
    res->keep_alive(keep_alive);
    res->prepare_payload();
    stream_.expires_after(server_.limits.request_timeout);  // a client that does not read is cut too
    http::async_write(stream_, *res,
                      [self = shared_from_this(), res, keep_alive, method, path, bytes_in](beast::error_code ec,
                                                                                          std::size_t) {
                        if (self->server_.logger)
                          self->server_.logger(method, path, res->result_int(), bytes_in, res->body().size());
                        self->busy_ = false;
                        if (ec) return self->close();
                        if (keep_alive) {
                          self->buffer_.shrink_to_fit();  // an idle connection holds no body room
                          return self->read_header();
                        }
                        self->linger();
                      });
  }

  // Half-close, then read and discard what the client still sends, for a short,
  // bounded time: closing with unread data would reset the connection, and the client
  // could lose the answer.
  void linger() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    if (!drain_) {
      drain_.emplace(16u << 10, '\0');
      stream_.expires_after(server_.limits.linger);
    }
    stream_.async_read_some(net::buffer(*drain_), [self = shared_from_this()](beast::error_code ec, std::size_t n) {
      self->drained_ += n;
      if (ec || self->drained_ > std::max<std::size_t>(self->server_.limits.max_body_bytes, 1u << 20))
        return self->close();
      self->linger();
    });
  }

  void close() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream_.close();
  }

  void release_body() {
    server_.buffered -= charged_;
    charged_ = 0;
  }

  HttpServer::Impl& server_;
  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::optional<std::string> drain_;
  std::size_t drained_ = 0;
  std::size_t charged_ = 0;  // body bytes counted against the server's budget
  std::uint64_t id_;
  std::string client_;
  std::atomic<bool> busy_{false};
  std::atomic<Clock::rep> request_started_{0};
};

void HttpServer::Impl::accept() {
  acceptor->async_accept(net::make_strand(ioc), [this](beast::error_code ec, tcp::socket socket) {
    if (!acceptor->is_open()) return;
    if (ec) {
      // Out of descriptors, say: try again shortly instead of spinning.
      accept_retry->expires_after(std::chrono::milliseconds(50));
      accept_retry->async_wait([this](beast::error_code e) {
        if (!e && acceptor->is_open()) accept();
      });
      return;
    }
    admit(std::move(socket));
    accept();
  });
}

void HttpServer::Impl::admit(tcp::socket socket) {
  beast::error_code ec;
  const auto endpoint = socket.remote_endpoint(ec);
  if (ec || stopping) return;
  socket.set_option(tcp::no_delay(true), ec);  // small answers go out at once
  const auto client = endpoint.address().to_string();
  std::shared_ptr<Connection> victim;
  std::shared_ptr<Connection> connection;
  // Strong references taken under the lock are released only after it: the last one
  // runs ~Connection, which takes the lock in forget().
  std::vector<std::shared_ptr<Connection>> seen;
  {
    std::lock_guard<std::mutex> lock(registry_mutex);
    const auto known = per_client.find(client);
    if (known != per_client.end() && known->second >= limits.max_connections_per_client) return;  // closes the socket
    if (static_cast<int>(connections.size()) - evicting >= limits.max_connections) {
      // Evict from the address holding the most connections, the one whose current
      // request (or wait for one) began first: a flood of connections from a few
      // addresses cannot push out a client that holds one. One already being evicted
      // does not count, nor is it chosen twice.
      int victim_share = 0;
      for (const auto& [id, weak] : connections) {
        auto candidate = weak.lock();
        if (!candidate || candidate->busy() || candidate->evicted) {
          if (candidate) seen.push_back(std::move(candidate));
          continue;
        }
        const int share = per_client[candidate->client()];
        if (!victim || share > victim_share ||
            (share == victim_share && candidate->request_started() < victim->request_started())) {
          victim = candidate;
          victim_share = share;
        }
        seen.push_back(std::move(candidate));
      }
      if (!victim) return;
      victim->evicted = true;
      ++evicting;
    }
    const auto id = next_id++;
    connection = std::make_shared<Connection>(*this, std::move(socket), id, client);
    connections[id] = connection;
    ++per_client[client];
  }
  if (victim) victim->close_soon();
  connection->start();
}

void HttpServer::Impl::forget(std::uint64_t id, const std::string& client, bool evicted) {
  std::lock_guard<std::mutex> lock(registry_mutex);
  if (evicted) --evicting;
  connections.erase(id);
  if (--per_client[client] <= 0) per_client.erase(client);
}

HttpServer::HttpServer(HttpLimits limits, HttpHandler handler, HttpLogger logger, HttpErrorBody error_body)
    : impl_(std::make_unique<Impl>()) {
  impl_->limits = limits;
  impl_->handler = std::move(handler);
  impl_->logger = std::move(logger);
  impl_->error_body = std::move(error_body);
}

HttpServer::~HttpServer() { stop(); }

int HttpServer::start(const std::string& host, int port, int threads) {
  auto& impl = *impl_;
  WMARK_CHECK(impl.threads.empty(), "serve: the server is already started");
  beast::error_code ec;
  const auto address = net::ip::make_address(host, ec);
  WMARK_CHECK(!ec, "serve: '", host, "' is not an IP address to listen on");
  impl.stopping = false;
  impl.ioc.restart();
  impl.acceptor.emplace(net::make_strand(impl.ioc));
  impl.accept_retry.emplace(impl.acceptor->get_executor());
  const tcp::endpoint endpoint(address, static_cast<unsigned short>(port));
  impl.acceptor->open(endpoint.protocol(), ec);
  if (!ec) impl.acceptor->set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) impl.acceptor->bind(endpoint, ec);
  if (!ec) impl.acceptor->listen(impl.limits.accept_backlog, ec);
  if (ec) {
    impl.acceptor.reset();
    WMARK_FAIL("serve: cannot listen on ", host, ":", port, " (", ec.message(),
               "; address in use, or not an address of this machine?)");
  }
  const int bound = impl.acceptor->local_endpoint().port();
  impl.accept();
  impl.keep_running.emplace(impl.ioc.get_executor());
  for (int i = 0; i < threads; ++i) impl.threads.emplace_back([&impl] { impl.ioc.run(); });
  return bound;
}

void HttpServer::stop() {
  auto& impl = *impl_;
  if (impl.threads.empty()) return;
  impl.stopping = true;
  net::post(impl.acceptor->get_executor(), [&impl] {
    beast::error_code ignored;
    impl.acceptor->close(ignored);
    impl.accept_retry->cancel();
  });
  std::vector<std::shared_ptr<Connection>> open;  // released after the lock (see admit)
  {
    std::lock_guard<std::mutex> lock(impl.registry_mutex);
    for (const auto& [id, weak] : impl.connections) {
      if (auto connection = weak.lock()) open.push_back(std::move(connection));
    }
  }
  for (const auto& connection : open) connection->close_soon();
  open.clear();
  // Requests being handled finish and close themselves; anything left after the
  // request deadline is dropped.
  const auto deadline = Clock::now() + impl.limits.request_timeout + std::chrono::seconds(1);
  while (open_connections() > 0 && Clock::now() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  impl.keep_running.reset();
  impl.ioc.stop();
  for (auto& thread : impl.threads) thread.join();
  impl.threads.clear();
  impl.accept_retry.reset();
  impl.acceptor.reset();
}

int HttpServer::open_connections() const {
  std::lock_guard<std::mutex> lock(impl_->registry_mutex);
  return static_cast<int>(impl_->connections.size());
}

}  // namespace wmark::serve
