#include "local_tsa.h"

#include <httplib.h>

#include <cstdlib>
#include <fstream>
#include <mutex>
#include <stdexcept>

#include "wmark/util/files.h"

namespace fs = std::filesystem;

namespace wmark::test {
namespace {

std::mutex reply_mutex;  // one openssl run at a time: they share the serial file

}  // namespace

LocalTsa::LocalTsa(const std::string& name) : ca_(name) {
  ca_.issue(name + " TSA", "keyUsage=critical,digitalSignature\nextendedKeyUsage=critical,timeStamping", "tsa");
  std::ofstream(ca_.dir() / "tsaserial") << "01\n";
  // Two TSA sections: "local" stamps SHA-256 imprints; "reject" refuses them (badAlg).
  std::ofstream config(ca_.dir() / "tsa.cnf");
  config << "[ tsa ]\ndefault_tsa = local\n";
  for (const std::string section : {"local", "reject"})
    config << "[ " << section << " ]\ndir = " << ca_.dir().string()
           << "\nserial = $dir/tsaserial\ncrypto_device = builtin\nsigner_cert = $dir/tsa.pem\n"
              "signer_key = $dir/tsa.key\nsigner_digest = sha256\ndefault_policy = 1.3.6.1.4.1.59999.1\n"
           << (section == "local" ? "digests = sha256, sha384, sha512\n" : "digests = sha512\n")
           << "accuracy = secs:1\nordering = yes\ntsa_name = yes\ness_cert_id_chain = no\ness_cert_id_alg = sha256\n";
  config.close();

  server_ = std::make_unique<httplib::Server>();
  server_->Post("/tsr", [this](const httplib::Request& request, httplib::Response& response) {
    const auto behaviour = behaviour_.load();
    switch (behaviour) {
      case Behaviour::http_error:
        response.status = 500;
        response.set_content("busy", "text/plain");
        return;
      case Behaviour::wrong_type:
        response.set_content("<html>sign in</html>", "text/html");
        return;
      case Behaviour::garbage:
        response.set_content(std::string(700, '\x5a'), "application/timestamp-reply");
        return;
      case Behaviour::oversized:
        response.set_content(std::string(200 * 1024, '\x30'), "application/timestamp-reply");
        return;
      default:
        break;
    }
    auto answer = reply(request.body);
    if (behaviour == Behaviour::replay) answer = first_reply_;
    response.set_content(answer, "application/timestamp-reply");
  });
  port_ = server_->bind_to_any_port("127.0.0.1");
  if (port_ <= 0) throw std::runtime_error("local TSA: cannot bind a loopback port");
  thread_ = std::thread([this] { server_->listen_after_bind(); });
  // bind_to_any_port already listens: requests queue until the thread accepts them.
}

LocalTsa::~LocalTsa() {
  server_->stop();
  if (thread_.joinable()) thread_.join();
}

std::string LocalTsa::url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/tsr"; }

std::string LocalTsa::ca_pem() const { return read_file(ca_pem_path()); }

std::string LocalTsa::reply(const std::string& query_der) {
  std::lock_guard<std::mutex> lock(reply_mutex);
  const auto n = std::to_string(++requests_);
  const auto query = ca_.dir() / ("query" + n + ".tsq"), answer = ca_.dir() / ("reply" + n + ".tsr");
  std::ofstream(query, std::ios::binary) << query_der;
  try {
    ca_.openssl("ts -reply -config tsa.cnf -queryfile " + query.filename().string() + " -out " + answer.filename().string() +
            (behaviour_ == Behaviour::rejection ? " -section reject" : ""));
  } catch (const std::runtime_error&) {
    return "";  // openssl refused to answer at all (e.g. an unparsable query)
  }
  auto bytes = read_file(answer);
  if (first_reply_.empty()) first_reply_ = bytes;
  return bytes;
}

std::string LocalTsa::stamp(const std::string& data) const {
  std::lock_guard<std::mutex> lock(reply_mutex);
  std::ofstream(ca_.dir() / "data.bin", std::ios::binary) << data;
  ca_.openssl("ts -query -data data.bin -sha256 -cert -no_nonce -out direct.tsq");
  ca_.openssl("ts -reply -config tsa.cnf -queryfile direct.tsq -token_out -out direct.tst");
  return read_file(ca_.dir() / "direct.tst");
}

}  // namespace wmark::test
