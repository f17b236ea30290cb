#include "wmark/verify/remote_classifier.h"

#include <httplib.h>

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cmath>
#include <regex>
#include <set>
#include <thread>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "wmark/protocol/inference_protocol.h"
#include "wmark/protocol/model_metadata.h"
#include "wmark/util/encoding.h"
#include "../util/bounded_http.h"
#include "wmark/util/error.h"
#include "wmark/util/log.h"
#include "wmark/util/sha256.h"
#include "../util/text.h"

namespace wmark {
namespace {

using json = nlohmann::json;

struct Answer {
  int status = 0;
  std::string body;
  std::optional<std::size_t> json_length;
};

// Limits for what the server sends: depth and values checked before parsing.
protocol::DecodeLimits response_limits(std::int64_t batch_size) {
  protocol::DecodeLimits limits;
  limits.max_json_values = std::min<std::int64_t>(limits.max_json_values, batch_size * (1 << 16) + 4096);
  return limits;
}

// A JSON document the server sent, or a discarded value when it is not one (or is
// nested too deeply or too large to parse safely).
json parse_bounded(const std::string& body, const protocol::DecodeLimits& limits) {
  try {
    protocol::check_json_limits(body, limits, "response");
  } catch (const protocol::ProtocolError&) {
    return json(json::value_t::discarded);
  }
  return json::parse(body, nullptr, false);
}

// The server's {"error": ...} message, or the start of whatever it sent.
std::string server_message(const std::string& body) {
  auto document = parse_bounded(body, protocol::DecodeLimits());
  if (document.is_object() && document.contains("error") && document["error"].is_string())
    return detail::first_line(document["error"].get<std::string>(), 300);
  return detail::first_line(body, 300);
}

// The certificate every TLS connection was made with: an info callback on the client's
// SSL context records the peer certificate's SHA-256 into the set stored in the context.
int tls_fingerprints_index() {
  static const int index = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}

void record_tls_certificate(const SSL* ssl, int where, int) {
  if (!(where & SSL_CB_HANDSHAKE_DONE)) return;
  auto* fingerprints =
      static_cast<std::set<std::string>*>(SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), tls_fingerprints_index()));
  const X509* certificate = SSL_get0_peer_certificate(ssl);
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  if (fingerprints && certificate && X509_digest(certificate, EVP_sha256(), digest, &size) == 1)
    fingerprints->insert(hex_encode(digest, size));
}

std::chrono::microseconds micros(double seconds) {
  return std::chrono::microseconds(static_cast<std::int64_t>(seconds * 1e6));
}

}  // namespace

struct RemoteClassifier::Impl {
  RemoteOptions options;
  ImageShape input;
  Normalization normalization;
  std::unique_ptr<httplib::Client> client;
  std::string input_name = "input";
  c10::ScalarType input_type = at::kFloat;
  std::vector<std::string> outputs;  // what to ask for; empty = everything
  std::int64_t requests = 0;
  Sha256 transcript;  // every exchange that got an answer, in order
  std::set<std::string> tls_certificates;  // SHA-256 of each certificate an https server presented

  // Length-prefixed, so that no two different transcripts hash the same bytes.
  void record(std::string_view part) { transcript.update(std::to_string(part.size()) + ":").update(part); }

  std::string where() const { return "model '" + options.model() + "' at " + options.url(); }

  // One request with retries on connection errors and 5xx; 4xx answers are returned.
  Answer send(const std::string& method, const std::string& path, const protocol::Body* body = nullptr) {
    std::string last_problem;
    for (int attempt = 0; attempt <= options.retries(); ++attempt) {
      if (attempt > 0) {
        const double wait = options.backoff_seconds() * std::pow(2.0, attempt - 1);
        logger()->debug("remote: retry {} of {} in {:.2f} s: {}", attempt, options.retries(), wait, last_problem);
        std::this_thread::sleep_for(micros(wait));
      }
      ++requests;
      httplib::Request request;
      request.method = method;
      request.path = path;
      if (body) {
        if (body->json_length)
          request.headers.emplace(protocol::kInferenceHeaderContentLength, std::to_string(*body->json_length));
        request.headers.emplace("Content-Type", body->content_type());
        request.body = body->bytes;
      }
      const auto cap = static_cast<std::uint64_t>(options.max_response_bytes());
      auto exchange = http::send_bounded(*client, std::move(request), cap);
      if (exchange.too_large)
        WMARK_FAIL(where(), ": the response to ", method, " ", path, " is larger than ", cap,
                   " bytes (RemoteOptions::max_response_bytes)");
      if (!exchange.sent) {
        last_problem = "cannot reach " + options.url() + " (" + httplib::to_string(exchange.error) + ")";
        continue;
      }
      auto& result = exchange.response;
      record(method);
      record(path);
      record(body ? std::string_view(body->bytes) : std::string_view());
      record(std::to_string(result.status));
      record(result.body);
      if (result.status >= 300 && result.status < 400)
        WMARK_FAIL(where(), ": ", method, " ", path, " answered with a redirect (", result.status,
                   "); wmark follows none: give the server's own URL");
      if (result.status >= 500) {
        last_problem = "server error " + std::to_string(result.status) + ": " + server_message(result.body);
        continue;
      }
      Answer answer{result.status, std::move(result.body), std::nullopt};
      if (result.has_header(protocol::kInferenceHeaderContentLength)) {
        const auto value = result.get_header_value(protocol::kInferenceHeaderContentLength);
        WMARK_CHECK(!value.empty() && value.size() < 19 && value.find_first_not_of("0123456789") == std::string::npos,
                    where(), ": bad ", protocol::kInferenceHeaderContentLength, " header '", detail::first_line(value, 32), "'");
        answer.json_length = static_cast<std::size_t>(std::stoull(value));
      }
      return answer;
    }
    WMARK_FAIL(where(), ": ", last_problem, " (", options.retries() + 1, " attempts)");
  }

  void check_answer(const Answer& answer, const std::string& what) const {
    if (answer.status == 404)
      WMARK_FAIL(where(), ": model not found (", what, " answered 404: ", server_message(answer.body), ")");
    if (answer.status != 200)
      WMARK_FAIL(where(), ": ", what, " answered ", answer.status, ": ", server_message(answer.body));
  }

  // V2 model metadata: one input of the key's shape, FP32 or UINT8; outputs to ask for.
  void read_v2_metadata() {
    const auto answer = send("GET", "/v2/models/" + options.model());
    check_answer(answer, "GET /v2/models/" + options.model());
    protocol::ModelMetadata metadata;
    try {
      metadata = protocol::decode_v2_model_metadata(answer.body, response_limits(options.batch_size()));
    } catch (const protocol::ProtocolError& e) {
      WMARK_FAIL(where(), ": ", e.what());
    }
    input_name = metadata.input_name;
    const auto& datatype = metadata.input_datatype;
    WMARK_CHECK(datatype == "FP32" || datatype == "UINT8", where(), ": input '", detail::first_line(input_name, 64), "' takes ",
                detail::first_line(datatype, 16), "; wmark sends FP32 or UINT8 images");
    input_type = datatype == "UINT8" ? at::kByte : at::kFloat;
    const auto& shape = metadata.input_shape;
    const auto dim_matches = [](std::int64_t dim, std::int64_t expected) { return dim == -1 || dim == expected; };
    const bool fits = shape.size() == 4 && shape[0] == -1 && dim_matches(shape[1], input.channels) &&
                      dim_matches(shape[2], input.height) && dim_matches(shape[3], input.width);
    WMARK_CHECK(fits, where(), ": input '", detail::first_line(input_name, 64), "' has a shape other than the key's images, [N,",
                input.channels, ",", input.height, ",", input.width, "]");
    // Ask for a label output if there is one, else for the class scores.
    if (metadata.label_output) outputs = {*metadata.label_output};
  }

  void read_v1_metadata() {
    const auto answer = send("GET", "/v1/models/" + options.model());
    check_answer(answer, "GET /v1/models/" + options.model());
  }

  // The float or uint8 batch the server takes.
  at::Tensor encode_images(const at::Tensor& images) const {
    if (input_type == at::kByte) return images.contiguous();
    if (options.input_scale() == "normalized") return normalization.apply(images).contiguous();
    auto x = images.to(at::kFloat);
    return options.input_scale() == "unit" ? x.mul_(1.0 / 255.0) : x;
  }

  // Labels from a V2 response: an integer output of shape [N] (or [N,1]), else the
  // argmax of a [N, classes] output.
  at::Tensor labels_from(const protocol::InferResponse& response, std::int64_t n) const {
    for (const auto& out : response.outputs) {
      const auto& t = out.data;
      const bool integer = !at::isFloatingType(t.scalar_type()) && t.scalar_type() != at::kBool;
      if (integer && t.numel() == n && (t.dim() == 1 || (t.dim() == 2 && t.size(1) == 1))) return t.reshape({n}).to(at::kLong);
    }
    for (const auto& out : response.outputs) {
      const auto& t = out.data;
      if (t.dim() == 2 && t.size(0) == n && t.size(1) >= 2) return t.argmax(1).to(at::kLong);
    }
    WMARK_FAIL(where(), ": the response has no label output of shape [", n, "] and no scores [", n, ", classes]");
  }

  // Class scores from a V2 response: its first floating output of shape [N, classes];
  // undefined if it has none.
  static at::Tensor scores_from(const protocol::InferResponse& response, std::int64_t n) {
    for (const auto& out : response.outputs) {
      const auto& t = out.data;
      if (at::isFloatingType(t.scalar_type()) && t.dim() == 2 && t.size(0) == n && t.size(1) >= 2)
        return t.to(at::kFloat).contiguous();
    }
    return {};
  }

  // One batch's answers; with `scores`, every output is asked for (not only a label
  // output), so that the class scores come back too where the model gives them.
  SuspectAnswers answer_batch(const at::Tensor& images, bool scores) {
    const auto n = images.size(0);
    const auto batch = encode_images(images);
    if (options.protocol() == "v1") {
      protocol::Body body{protocol::encode_v1_request(batch), std::nullopt};
      const auto answer = send("POST", "/v1/models/" + options.model() + ":predict", &body);
      check_answer(answer, "predict");
      try {
        auto labels = protocol::decode_v1_predictions(answer.body, response_limits(options.batch_size()));
        WMARK_CHECK(labels.size(0) == n, where(), " returned ", labels.size(0), " predictions for ", n, " images");
        return {labels, at::Tensor()};
      } catch (const protocol::ProtocolError& error) {
        WMARK_FAIL(where(), ": unreadable predict response: ", error.what());
      }
    }
    protocol::InferRequest request;
    request.inputs.push_back({input_name, batch, options.binary()});
    if (!scores)
      for (const auto& name : outputs) request.outputs.push_back({name, options.binary()});
    request.binary_output = options.binary();
    const auto body = protocol::encode_infer_request(request);
    const auto answer = send("POST", "/v2/models/" + options.model() + "/infer", &body);
    check_answer(answer, "infer");
    try {
      const auto response =
          protocol::decode_infer_response({answer.body, answer.json_length}, response_limits(options.batch_size()));
      return {labels_from(response, n), scores ? scores_from(response, n) : at::Tensor()};
    } catch (const protocol::ProtocolError& error) {
      WMARK_FAIL(where(), ": unreadable infer response: ", error.what());
    }
  }
};

RemoteClassifier::RemoteClassifier(RemoteOptions options, ImageShape input, Normalization normalization)
    : impl_(std::make_unique<Impl>()) {
  auto& impl = *impl_;
  impl.options = std::move(options);
  impl.input = input;
  impl.normalization = std::move(normalization);
  const auto& o = impl.options;
  static const std::regex url_pattern(R"(https?://[A-Za-z0-9.\-]+(:[0-9]{1,5})?/?)");
  WMARK_CHECK(std::regex_match(o.url(), url_pattern), "remote URL '", o.url(),
              "' must look like http://HOST:PORT (no path)");
  WMARK_CHECK(!o.model().empty() && o.model().find_first_of("/?#: ") == std::string::npos, "remote model name '",
              o.model(), "' must be non-empty without '/', '?', '#', ':' or spaces");
  WMARK_CHECK(o.protocol() == "v2" || o.protocol() == "v1", "remote protocol '", o.protocol(), "' unknown; use v2 or v1");
  WMARK_CHECK(!(o.binary() && o.protocol() == "v1"), "the binary tensor data extension is V2 only");
  WMARK_CHECK(o.batch_size() >= 1, "remote batch size must be at least 1");
  WMARK_CHECK(o.timeout_seconds() > 0, "remote timeout must be positive");
  WMARK_CHECK(o.retries() >= 0 && o.retries() <= 20, "remote retries must be in 0..20");
  WMARK_CHECK(o.backoff_seconds() >= 0, "remote backoff must not be negative");
  WMARK_CHECK(o.max_response_bytes() >= 1024, "remote max response bytes must be at least 1024");
  WMARK_CHECK(o.max_queries() >= 0, "the query budget must not be negative");
  WMARK_CHECK(o.input_scale() == "unit" || o.input_scale() == "normalized" || o.input_scale() == "raw",
              "remote input scale '", o.input_scale(), "' unknown; use unit, normalized or raw");
  WMARK_CHECK(input.channels > 0 && input.height > 0 && input.width > 0, "remote: the key's input shape is empty");

  std::string base = o.url();
  if (base.back() == '/') base.pop_back();
  const bool https = starts_with(base, "https://");
  WMARK_CHECK(https || o.ca_file().empty(), "a CA file for the remote server needs an https URL, not ", o.url());
  impl.client = std::make_unique<httplib::Client>(base);
  WMARK_CHECK(impl.client->is_valid(), "remote URL '", o.url(), "' is not usable");
  if (https) {
    impl.client->enable_server_certificate_verification(true);
    if (!o.ca_file().empty()) {
      WMARK_CHECK(std::filesystem::is_regular_file(o.ca_file()), "CA file ", o.ca_file(), " does not exist");
      impl.client->set_ca_cert_path(o.ca_file());
    }
    SSL_CTX* context = impl.client->ssl_context();
    WMARK_CHECK(context, "remote URL '", o.url(), "': this build has no TLS support");
    SSL_CTX_set_ex_data(context, tls_fingerprints_index(), &impl.tls_certificates);
    SSL_CTX_set_info_callback(context, record_tls_certificate);
  }
  impl.client->set_keep_alive(true);
  impl.client->set_follow_location(false);  // a redirect to another host is refused, not followed
  impl.client->set_tcp_nodelay(true);
  impl.client->set_connection_timeout(micros(o.timeout_seconds()));
  impl.client->set_read_timeout(micros(o.timeout_seconds()));
  impl.client->set_write_timeout(micros(o.timeout_seconds()));
  if (o.protocol() == "v2") {
    impl.read_v2_metadata();
  } else {
    impl.read_v1_metadata();
  }
}

RemoteClassifier::~RemoteClassifier() = default;

at::Tensor RemoteClassifier::classify(const at::Tensor& images) { return answer_all(images, false).labels; }

SuspectAnswers RemoteClassifier::answer(const at::Tensor& images) { return answer_all(images, true); }

SuspectAnswers RemoteClassifier::answer_all(const at::Tensor& images, bool scores) {
  auto& impl = *impl_;
  WMARK_CHECK(images.dim() == 4 && images.scalar_type() == at::kByte, "classify expects uint8 images [N,C,H,W], got ",
              images.scalar_type(), " ", images.sizes());
  WMARK_CHECK(images.size(1) == impl.input.channels && images.size(2) == impl.input.height &&
                  images.size(3) == impl.input.width,
              describe(), " takes ", impl.input.str(), " images, got ", images.sizes());
  const auto n = images.size(0);
  const auto budget = impl.options.max_queries();
  WMARK_CHECK(budget == 0 || queries_ + n <= budget, describe(), ": the query budget of ", budget, " images would be exceeded (",
              queries_, " sent, ", n, " more asked for)");
  auto labels = at::empty({n}, at::TensorOptions().dtype(at::kLong));
  std::vector<at::Tensor> score_parts;
  bool every_batch_scored = scores && n > 0;  // scores count only if every batch gave them, alike
  const auto images_cpu = images.cpu();
  for (std::int64_t start = 0; start < n; start += impl.options.batch_size()) {
    const auto len = std::min(impl.options.batch_size(), n - start);
    auto batch = impl.answer_batch(images_cpu.narrow(0, start, len), scores);
    labels.narrow(0, start, len).copy_(batch.labels);
    queries_ += len;
    every_batch_scored = every_batch_scored && batch.scores.defined() &&
                         (score_parts.empty() || score_parts.front().size(1) == batch.scores.size(1));
    if (every_batch_scored) score_parts.push_back(batch.scores);
  }
  const auto all_scores = every_batch_scored ? at::cat(score_parts) : at::Tensor();
  return {labels, all_scores};
}

std::string RemoteClassifier::describe() const {
  const auto& o = impl_->options;
  return "remote model '" + o.model() + "' at " + o.url() + " (" + o.protocol() + (o.binary() ? " binary" : "") + ")";
}

std::int64_t RemoteClassifier::requests() const { return impl_->requests; }

std::string RemoteClassifier::tls_certificate_sha256() const {
  std::string joined;
  for (const auto& fingerprint : impl_->tls_certificates) joined += (joined.empty() ? "" : ",") + fingerprint;
  return joined;
}

std::string RemoteClassifier::transcript_sha256() const {
  Sha256 copy = impl_->transcript;
  return to_hex(copy.finish());
}

}  // namespace wmark
