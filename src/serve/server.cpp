#include "wmark/serve/server.h"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>

#include <torch/torch.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "wmark/protocol/inference_protocol.h"
#include "wmark/serve/dawn.h"
#include "wmark/util/error.h"
#include "wmark/util/log.h"
#include "http_server.h"

#ifndef WMARK_VERSION_STRING
#define WMARK_VERSION_STRING "unknown"
#endif

namespace wmark {
namespace {

using json = nlohmann::json;
using protocol::ProtocolError;

serve::HttpResponse answer(int status, const json& document) { return {status, "application/json", document.dump(), {}}; }

serve::HttpResponse answer_error(int status, const std::string& message) {
  return {status, "application/json", protocol::error_body(message), {}};
}

// Inference-Header-Content-Length: digits only, within the body.
std::optional<std::size_t> json_length_header(const serve::HttpRequest& req) {
  const auto* value = req.header(protocol::kInferenceHeaderContentLength);
  if (!value) return std::nullopt;
  if (value->empty() || value->size() > 18 || value->find_first_not_of("0123456789") != std::string::npos)
    throw ProtocolError(400, std::string(protocol::kInferenceHeaderContentLength) + " must be a byte count");
  return static_cast<std::size_t>(std::stoull(*value));
}

bool valid_model_name(const std::string& name) {
  if (name.empty() || name.size() > 128) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-';
  });
}

// What a request path names. Parsed by hand, segment by segment: no regular
// expression runs over a path the client chose.
struct Target {
  enum Kind { kNone, kLive, kReady, kServer, kModel, kModelReady, kInfer, kV1Model, kV1Predict } kind = kNone;
  std::string model;
  std::optional<std::string> version;
  bool post() const { return kind == kInfer || kind == kV1Predict; }
};

Target parse_target(const std::string& path) {
  std::vector<std::string> parts;
  if (path.empty() || path[0] != '/' || path.size() > 1024) return {};
  for (std::size_t start = 1; start <= path.size();) {
    const auto end = std::min(path.find('/', start), path.size());
    parts.push_back(path.substr(start, end - start));
    if (parts.back().empty() || parts.size() > 6) return {};
    start = end + 1;
  }
  Target t;
  const auto n = parts.size();
  if (parts[0] == "v2") {
    if (n == 1) t.kind = Target::kServer;
    if (n == 3 && parts[1] == "health" && parts[2] == "live") t.kind = Target::kLive;
    if (n == 3 && parts[1] == "health" && parts[2] == "ready") t.kind = Target::kReady;
    if (t.kind != Target::kNone) return t;
    if (n < 3 || parts[1] != "models") return {};
    t.model = parts[2];
    std::size_t next = 3;
    if (n >= 5 && parts[3] == "versions") {
      t.version = parts[4];
      next = 5;
    }
    if (n == next) t.kind = Target::kModel;
    else if (n == next + 1 && parts[next] == "ready") t.kind = Target::kModelReady;
    else if (n == next + 1 && parts[next] == "infer") t.kind = Target::kInfer;
    return t;
  }
  if (parts[0] == "v1" && n == 3 && parts[1] == "models") {
    const auto colon = parts[2].find(':');
    t.model = parts[2].substr(0, colon);
    if (colon == std::string::npos) t.kind = Target::kV1Model;
    else if (parts[2].substr(colon) == ":predict") t.kind = Target::kV1Predict;
  }
  return t;
}

}  // namespace

struct InferenceServer::Impl {
  ServedModel model;
  ServerOptions options;
  std::unique_ptr<serve::HttpServer> http;
  std::mutex model_mutex;  // the model runs one batch at a time, with every intra-op thread
  std::atomic<std::int64_t> requests{0}, errors{0}, images{0};
  std::atomic<bool> running{false};
  std::mutex control_mutex;  // start() and stop() one at a time
  std::mutex stop_mutex;     // guards has_stopped
  std::condition_variable stopped;
  bool has_stopped = false;
  int port = 0;

  Impl(ServedModel m, ServerOptions o) : model(std::move(m)), options(std::move(o)) {}

  protocol::DecodeLimits limits() const {
    protocol::DecodeLimits l;
    l.max_elements = options.max_batch() * model.input.channels * model.input.height * model.input.width;
    l.max_tensors = 4;
    // The JSON tree is bounded before it is built: one input's numbers plus structure.
    l.max_json_values = l.max_elements + 4096;
    return l;
  }

  json input_metadata(const std::string& datatype) const {
    return {{"name", "input"},
            {"datatype", datatype},
            {"shape", {-1, model.input.channels, model.input.height, model.input.width}}};
  }

  json model_metadata() const {
    return {{"name", model.name},
            {"versions", {model.version}},
            {"platform", "wmark_libtorch"},
            {"inputs", {input_metadata("FP32")}},
            {"outputs",
             {{{"name", "scores"}, {"datatype", "FP32"}, {"shape", {-1, model.num_classes}}},
              {{"name", "label"}, {"datatype", "INT64"}, {"shape", {-1}}}}},
            {"parameters", {{"input_scale", options.input_scale()}, {"uint8_inputs", "raw pixels 0..255"}}}};
  }

  // Throws 404 unless the target names this model (and, if given, its version). The
  // names the client sent are not repeated back.
  void check_model(const Target& target) const {
    if (target.model != model.name) throw ProtocolError(404, "unknown model; this server serves '" + model.name + "'");
    if (target.version && *target.version != model.version)
      throw ProtocolError(404, "unknown version; model '" + model.name + "' has version '" + model.version + "'");
  }

  // A batch [N,C,H,W] of the model's shape, UINT8 raw pixels or FP32, as the network's
  // normalised float input.
  at::Tensor prepare(const at::Tensor& batch, const std::string& what) {
    const auto& s = model.input;
    if (batch.dim() != 4 || batch.size(1) != s.channels || batch.size(2) != s.height || batch.size(3) != s.width)
      throw ProtocolError(400, what + " has shape " + json(batch.sizes().vec()).dump() + "; the model takes [N," +
                                   std::to_string(s.channels) + "," + std::to_string(s.height) + "," +
                                   std::to_string(s.width) + "]");
    if (batch.size(0) < 1) throw ProtocolError(400, what + " holds no image");
    if (batch.size(0) > options.max_batch())
      throw ProtocolError(413, what + " holds " + std::to_string(batch.size(0)) + " images; at most " +
                                   std::to_string(options.max_batch()) + " per request");
    if (batch.scalar_type() == torch::kByte) return model.normalization.apply(batch);
    if (batch.scalar_type() != torch::kFloat)
      throw ProtocolError(400, what + " has datatype " + protocol::datatype_name(batch.scalar_type()) +
                                   "; send FP32 or UINT8");
    if (!torch::isfinite(batch).all().item<bool>()) throw ProtocolError(400, what + " holds a non-finite value");
    if (options.input_scale() == "normalized" || model.normalization.mean.empty()) return batch;
    const auto [mean, stddev] = normalization_tensors();
    return (batch - mean) / stddev;
  }

  std::pair<at::Tensor, at::Tensor> normalization_tensors() const {
    const auto& n = model.normalization;
    return {torch::tensor(std::vector<float>(n.mean.begin(), n.mean.end())).view({1, -1, 1, 1}),
            torch::tensor(std::vector<float>(n.stddev.begin(), n.stddev.end())).view({1, -1, 1, 1})};
  }

  // The uint8 pixels a checked batch stands for (what DAWN's choice is keyed on), so an
  // image gets one answer whether it came as UINT8, unit FP32 or normalised FP32.
  at::Tensor pixels(const at::Tensor& batch) const {
    if (batch.scalar_type() == torch::kByte) return batch.contiguous();
    auto unit = batch;
    if (options.input_scale() == "normalized" && !model.normalization.mean.empty()) {
      const auto [mean, stddev] = normalization_tensors();
      unit = batch * stddev + mean;
    }
    return (unit * 255).round_().clamp_(0, 255).to(torch::kByte).contiguous();
  }

  // Logits [N, classes] for a received batch, with DAWN's changes when it is on.
  at::Tensor answer_batch(const at::Tensor& batch, const std::string& what, const std::string& client) {
    auto logits = run(prepare(batch, what));
    if (model.dawn) model.dawn->apply(pixels(batch), logits, client);
    return logits;
  }

  // Logits [N, classes] on the CPU.
  at::Tensor run(const at::Tensor& x) {
    torch::NoGradGuard no_grad;
    std::lock_guard<std::mutex> lock(model_mutex);
    // Channels-last, as predict_labels feeds it: the fast path for convolutions on the CPU.
    const auto input = x.to(model.device).contiguous(torch::MemoryFormat::ChannelsLast);
    auto logits = model.network->forward(input).to(torch::kCPU, torch::kFloat).contiguous();
    if (logits.dim() != 2 || logits.size(0) != x.size(0) || logits.size(1) != model.num_classes)
      throw std::runtime_error("the model returned logits of shape " + json(logits.sizes().vec()).dump());
    images += x.size(0);
    return logits;
  }

  serve::HttpResponse v2_infer(const serve::HttpRequest& req) {
    protocol::Body body{req.body, json_length_header(req)};
    auto request = protocol::decode_infer_request(body, limits());
    if (request.inputs.size() != 1 || request.inputs[0].name != "input")
      throw ProtocolError(400, "the model takes exactly one input, named \"input\"");
    const auto logits = answer_batch(request.inputs[0].data, "input \"input\"", req.client);
    const auto labels = logits.argmax(1);

    auto outputs = request.outputs;
    if (outputs.empty()) outputs = {{"scores", request.binary_output}, {"label", request.binary_output}};
    protocol::InferResponse response{model.name, model.version, request.id, {}};
    for (const auto& output : outputs) {
      if (output.name == "scores") {
        response.outputs.push_back({"scores", logits, output.binary});
      } else if (output.name == "label") {
        response.outputs.push_back({"label", labels, output.binary});
      } else {
        throw ProtocolError(400, "an unknown output was requested; outputs: scores, label");
      }
    }
    const auto encoded = protocol::encode_infer_response(response);
    serve::HttpResponse res{200, encoded.content_type(), encoded.bytes, {}};
    if (encoded.json_length)
      res.headers.emplace_back(protocol::kInferenceHeaderContentLength, std::to_string(*encoded.json_length));
    return res;
  }

  serve::HttpResponse v1_predict(const serve::HttpRequest& req) {
    const auto batch = protocol::decode_v1_request(req.body, limits());
    const auto logits = answer_batch(batch, "\"instances\"", req.client);
    return {200, "application/json", protocol::encode_v1_response(logits, logits.argmax(1)), {}};
  }

  serve::HttpResponse route(const serve::HttpRequest& req) {
    const auto target = parse_target(req.path);
    if (target.kind == Target::kNone) throw ProtocolError(404, "no such endpoint; see docs/remote.md");
    if (req.method != (target.post() ? "POST" : "GET")) throw ProtocolError(405, "method not allowed");
    switch (target.kind) {
      case Target::kLive: return answer(200, {{"live", true}});
      case Target::kReady: return answer(running ? 200 : 503, {{"ready", running.load()}});
      case Target::kServer:
        return answer(200, {{"name", "wmark"}, {"version", WMARK_VERSION_STRING}, {"extensions", {"binary_tensor_data"}}});
      default: break;
    }
    check_model(target);
    switch (target.kind) {
      case Target::kModel: return answer(200, model_metadata());
      case Target::kModelReady:
      case Target::kV1Model: return answer(200, {{"name", model.name}, {"ready", true}});
      case Target::kInfer: return v2_infer(req);
      default: return v1_predict(req);
    }
  }

  // Protocol errors become their status, anything else a 500 that does not take the
  // server down.
  serve::HttpResponse handle(const serve::HttpRequest& req) {
    try {
      return route(req);
    } catch (const ProtocolError& error) {
      return answer_error(error.status(), error.what());
    } catch (const Error& error) {
      return answer_error(400, error.what());
    } catch (const std::exception& error) {
      logger()->warn("serve: internal error on {} {}: {}", req.method, req.path.substr(0, 128), error.what());
      return answer_error(500, "internal error while running the model");
    }
  }

  void log(const std::string& method, const std::string& path, int status, std::size_t in, std::size_t out) {
    ++requests;
    if (status >= 400) ++errors;
    logger()->debug("serve: {} {} -> {} ({} bytes in, {} out)", method.substr(0, 16), path.substr(0, 128), status, in,
                  out);
  }

  serve::HttpLimits http_limits() const {
    serve::HttpLimits l;
    l.max_body_bytes = static_cast<std::size_t>(options.max_body_bytes());
    l.max_header_bytes = static_cast<std::size_t>(options.max_header_bytes());
    l.max_buffered_body_bytes = std::max<std::size_t>(4 * l.max_body_bytes, 64u << 20);
    l.request_timeout = std::chrono::milliseconds(static_cast<std::int64_t>(options.request_timeout_seconds() * 1000));
    l.max_connections = options.max_connections();
    l.max_connections_per_client = options.max_connections_per_client();
    return l;
  }
};

InferenceServer::InferenceServer(ServedModel model, ServerOptions options)
    : impl_(std::make_unique<Impl>(std::move(model), std::move(options))) {
  const auto& m = impl_->model;
  const auto& o = impl_->options;
  WMARK_CHECK(m.network, "serve: no model given");
  WMARK_CHECK(valid_model_name(m.name), "serve: model name '", m.name,
              "' must be 1-128 letters, digits, '-', '_' or '.' (it appears in URLs)");
  WMARK_CHECK(m.input.channels > 0 && m.input.height > 0 && m.input.width > 0, "serve: model input shape ",
              m.input.str(), " is empty");
  WMARK_CHECK(m.num_classes >= 2, "serve: model must have at least 2 classes, got ", m.num_classes);
  WMARK_CHECK(o.port() >= 0 && o.port() <= 65535, "serve: port ", o.port(), " outside 0..65535");
  WMARK_CHECK(o.workers() >= 1 && o.workers() <= 256, "serve: workers must be in 1..256, got ", o.workers());
  WMARK_CHECK(o.max_batch() >= 1, "serve: max batch must be at least 1");
  WMARK_CHECK(o.max_body_bytes() >= 1024 && o.max_body_bytes() <= (1ll << 32),
              "serve: max body bytes must be in 1024..4294967296");
  WMARK_CHECK(o.max_header_bytes() >= 1024 && o.max_header_bytes() <= (1 << 20),
              "serve: max header bytes must be in 1024..1048576");
  WMARK_CHECK(o.input_scale() == "unit" || o.input_scale() == "normalized", "serve: input scale '", o.input_scale(),
              "' unknown; use unit or normalized");
  WMARK_CHECK(o.request_timeout_seconds() > 0, "serve: request timeout must be positive");
  WMARK_CHECK(o.max_connections() >= 1, "serve: max connections must be at least 1");
  WMARK_CHECK(o.max_connections_per_client() >= 1, "serve: max connections per client must be at least 1");
  if (m.dawn) {
    const auto& key = m.dawn->server_key();
    WMARK_CHECK(key.input_shape == m.input && key.num_classes == m.num_classes, "serve: the DAWN key is for ",
                key.input_shape.str(), " inputs and ", key.num_classes, " classes; the model takes ", m.input.str(),
                " and gives ", m.num_classes);
  }
  impl_->model.network->eval();
}

InferenceServer::~InferenceServer() { stop(); }

int InferenceServer::start() {
  auto& impl = *impl_;
  std::lock_guard<std::mutex> control(impl.control_mutex);
  WMARK_CHECK(!impl.http, "serve: the server is already started");
  auto& i = impl;
  impl.http = std::make_unique<serve::HttpServer>(
      impl.http_limits(), [&i](const serve::HttpRequest& req) { return i.handle(req); },
      [&i](const std::string& method, const std::string& path, int status, std::size_t in, std::size_t out) {
        i.log(method, path, status, in, out);
      },
      [](int, const std::string& message) { return protocol::error_body(message); });
  try {
    impl.port = impl.http->start(impl.options.host(), impl.options.port(), impl.options.workers());
  } catch (...) {
    impl.http.reset();
    throw;
  }
  impl.running = true;
  logger()->info("serve: model '{}' ({} classes, input {}) at {}/v2/models/{}", impl.model.name, impl.model.num_classes,
               impl.model.input.str(), url(), impl.model.name);
  return impl.port;
}

void InferenceServer::stop() {
  auto& impl = *impl_;
  std::lock_guard<std::mutex> control(impl.control_mutex);
  if (!impl.http) return;
  impl.running = false;
  impl.http->stop();
  impl.http.reset();
  {
    std::lock_guard<std::mutex> lock(impl.stop_mutex);
    impl.has_stopped = true;
  }
  impl.stopped.notify_all();
  logger()->info("serve: stopped after {} requests", impl.requests.load());
}

void InferenceServer::wait() {
  auto& impl = *impl_;
  std::unique_lock<std::mutex> lock(impl.stop_mutex);
  impl.stopped.wait(lock, [&impl] { return impl.has_stopped; });
}

std::string InferenceServer::url() const {
  return "http://" + impl_->options.host() + ":" + std::to_string(impl_->port);
}

ServerStats InferenceServer::stats() const {
  return {impl_->requests.load(), impl_->errors.load(), impl_->images.load()};
}

}  // namespace wmark
