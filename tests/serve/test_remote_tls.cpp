// A suspect served over https: the remote client checks the server's certificate (chain
// and host name) and records its SHA-256, so that a claim names the server it talked to.
#include <catch2/catch.hpp>

#include <httplib.h>

#include <thread>

#include <torch/torch.h>

#include "../support/test_ca.h"
#include "../support/watermarked_fixture.h"
#include "wmark/protocol/inference_protocol.h"
#include "wmark/util/error.h"
#include "wmark/verify/remote_classifier.h"

using namespace wmark;

namespace {

// An https stand-in for a V2 server whose model answers label 7 for every image.
class HttpsStandIn {
 public:
  explicit HttpsStandIn(const test::TestCa::Issued& certificate)
      : server_(certificate.certificate.c_str(), certificate.key.c_str()) {
    REQUIRE(server_.is_valid());
    server_.Get(R"(/v2/models/m)", [](const httplib::Request&, httplib::Response& res) {
      res.set_content(R"({"name": "m", "inputs": [{"name": "x", "datatype": "UINT8", "shape": [-1, 1, 28, 28]}]})",
                      "application/json");
    });
    server_.Post(R"(/v2/models/m/infer)", [](const httplib::Request& req, httplib::Response& res) {
      const auto n = protocol::decode_infer_request({req.body, std::nullopt}).inputs[0].data.size(0);
      res.set_content(protocol::encode_infer_response({"m", "", "", {{"y", torch::full({n}, 7, torch::kLong), false}}}).bytes,
                      "application/json");
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
  }
  ~HttpsStandIn() {
    server_.stop();
    thread_.join();
  }
  std::string url() const { return "https://127.0.0.1:" + std::to_string(port_); }

 private:
  httplib::SSLServer server_;
  std::thread thread_;
  int port_ = 0;
};

}  // namespace

TEST_CASE("over https the remote client checks the server's certificate and records it", "[serve]") {
  test::TestCa ca("wmark test");
  test::TestCa other("impostor");
  const auto server_certificate =
      ca.issue("127.0.0.1", "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth", "server");
  const auto misnamed = ca.issue("example.org", "subjectAltName=DNS:example.org\nextendedKeyUsage=serverAuth", "misnamed");
  HttpsStandIn server(server_certificate);
  HttpsStandIn misnamed_server(misnamed);
  const auto& f = test::watermarked_mnist();
  const auto images = f.test.images.narrow(0, 0, 3);
  const auto options = [](const std::string& url, const std::filesystem::path& ca_file) {
    return RemoteOptions().url(url).model("m").retries(0).timeout_seconds(10).ca_file(ca_file.string());
  };

  RemoteClassifier client(options(server.url(), ca.certificate()), f.key.input_shape, f.key.normalization);
  CHECK(torch::equal(client.classify(images), torch::full({3}, 7, torch::kLong)));
  CHECK(client.tls_certificate_sha256() == test::certificate_sha256(server_certificate.certificate));
  CHECK(client.transcript_sha256().size() == 64);

  // A server the client cannot authenticate is never queried.
  const auto refused = [&](const std::string& url, const std::filesystem::path& ca_file) {
    RemoteClassifier(options(url, ca_file), f.key.input_shape, f.key.normalization);
  };
  CHECK_THROWS_WITH(refused(server.url(), other.certificate()), Catch::Contains("cannot reach"));  // another CA
  CHECK_THROWS_WITH(refused(server.url(), ""), Catch::Contains("cannot reach"));  // the system's CAs
  CHECK_THROWS_WITH(refused(misnamed_server.url(), ca.certificate()), Catch::Contains("cannot reach"));  // wrong host
  CHECK_THROWS_WITH(refused("http://127.0.0.1:9", ca.certificate()), Catch::Contains("needs an https URL"));
  CHECK_THROWS_WITH(refused(server.url(), ca.dir() / "missing.pem"), Catch::Contains("does not exist"));
}
