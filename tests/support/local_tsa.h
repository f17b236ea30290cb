// A time-stamping authority on loopback for the RFC 3161 tests: a test CA and a TSA
// certificate made with the openssl command, and an HTTP server whose answers come from
// `openssl ts -reply`. It can also misbehave as a hostile or broken TSA would.
#pragma once

#include <atomic>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>

#include "test_ca.h"

namespace httplib {
class Server;
}

namespace wmark::test {

class LocalTsa {
 public:
  /// How the server answers a time-stamp request.
  enum class Behaviour {
    honest,        ///< a fresh reply to the request
    replay,        ///< the first reply it ever made, to every later request (a stale answer)
    http_error,    ///< HTTP 500
    wrong_type,    ///< a reply labelled text/html
    garbage,       ///< 200 application/timestamp-reply with random bytes
    oversized,     ///< 200 with a body larger than any token wmark reads
    rejection,     ///< a well-formed TimeStampResp with status "rejection"
  };

  /// Creates the CA (subject "CN=<name> CA") and TSA ("CN=<name> TSA") and starts serving.
  explicit LocalTsa(const std::string& name);
  ~LocalTsa();
  LocalTsa(const LocalTsa&) = delete;
  LocalTsa& operator=(const LocalTsa&) = delete;

  /// "http://127.0.0.1:PORT/tsr".
  std::string url() const;
  /// The CA certificate (PEM): what a client trusts.
  std::string ca_pem() const;
  std::filesystem::path ca_pem_path() const { return ca_.certificate(); }
  /// A token (DER) over `data` made directly by `openssl ts` (no HTTP, no nonce).
  std::string stamp(const std::string& data) const;
  /// Changes how later requests are answered.
  void set_behaviour(Behaviour behaviour) { behaviour_ = behaviour; }

 private:
  std::string reply(const std::string& query_der);

  TestCa ca_;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  int port_ = 0;
  std::atomic<Behaviour> behaviour_{Behaviour::honest};
  std::string first_reply_;
  std::atomic<int> requests_{0};
};

}  // namespace wmark::test
