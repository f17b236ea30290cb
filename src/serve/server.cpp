#include "wmark/serve/server.h"

#include <httplib.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <regex>
#include <thread>

#include <torch/torch.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "wmark/protocol/inference_protocol.h"
#include "wmark/util/error.h"

#ifndef WMARK_VERSION_STRING
#define WMARK_VERSION_STRING "unknown"
#endif

namespace wmark {
namespace {

using json = nlohmann::json;
using protocol::ProtocolError;

void answer(httplib::Response& res, int status, const json& document) {
  res.status = status;
  res.set_content(document.dump(), "application/json");
}

void answer_error(httplib::Response& res, int status, const std::string& message) {
  res.status = status;
  res.set_content(protocol::error_body(message), "application/json");
}

// Inference-Header-Content-Length: digits only, within the body.
std::optional<std::size_t> json_length_header(const httplib::Request& req) {
  if (!req.has_header(protocol::kInferenceHeaderContentLength)) return std::nullopt;
  const auto value = req.get_header_value(protocol::kInferenceHeaderContentLength);
  if (value.empty() || value.size() > 18 || value.find_first_not_of("0123456789") != std::string::npos)
    throw ProtocolError(400, std::string(protocol::kInferenceHeaderContentLength) + " must be a byte count");
  return static_cast<std::size_t>(std::stoull(value));
}

bool valid_model_name(const std::string& name) {
  static const std::regex pattern("[A-Za-z0-9_.-]{1,128}");
  return std::regex_match(name, pattern);
}

}  // namespace

struct InferenceServer::Impl {
  ServedModel model;
  ServerOptions options;
  httplib::Server http;
  std::thread listener;
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

  // 404 unless the URL names this model (and, if given, its version).
  bool known_model(const httplib::Request& req, httplib::Response& res) {
    const std::string name = req.matches[1];
    if (name != model.name) {
      answer_error(res, 404, "unknown model '" + name + "'; this server serves '" + model.name + "'");
      return false;
    }
    if (req.matches.size() > 2 && req.matches[2].matched && req.matches[2].str() != model.version) {
      answer_error(res, 404, "model '" + name + "' has no version '" + req.matches[2].str() + "'");
      return false;
    }
    return true;
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
    const auto& n = model.normalization;
    auto mean = torch::tensor(std::vector<float>(n.mean.begin(), n.mean.end())).view({1, -1, 1, 1});
    auto stddev = torch::tensor(std::vector<float>(n.stddev.begin(), n.stddev.end())).view({1, -1, 1, 1});
    return (batch - mean) / stddev;
  }

  // Logits [N, classes] on the CPU.
  at::Tensor run(const at::Tensor& x) {
    torch::NoGradGuard no_grad;
    std::lock_guard<std::mutex> lock(model_mutex);
    auto logits = model.network->forward(x.to(model.device)).to(torch::kCPU, torch::kFloat).contiguous();
    if (logits.dim() != 2 || logits.size(0) != x.size(0) || logits.size(1) != model.num_classes)
      throw std::runtime_error("the model returned logits of shape " + json(logits.sizes().vec()).dump());
    images += x.size(0);
    return logits;
  }

  void v2_infer(const httplib::Request& req, httplib::Response& res) {
    if (!known_model(req, res)) return;
    protocol::Body body{req.body, json_length_header(req)};
    auto request = protocol::decode_infer_request(body, limits());
    if (request.inputs.size() != 1 || request.inputs[0].name != "input")
      throw ProtocolError(400, "the model takes exactly one input, named \"input\"");
    const auto logits = run(prepare(request.inputs[0].data, "input \"input\""));
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
        throw ProtocolError(400, "unknown output \"" + output.name.substr(0, 64) + "\"; outputs: scores, label");
      }
    }
    const auto encoded = protocol::encode_infer_response(response);
    if (encoded.json_length) res.set_header(protocol::kInferenceHeaderContentLength, std::to_string(*encoded.json_length));
    res.status = 200;
    res.set_content(encoded.bytes, encoded.content_type().c_str());
  }

  void v1_predict(const httplib::Request& req, httplib::Response& res) {
    if (!known_model(req, res)) return;
    const auto batch = protocol::decode_v1_request(req.body, limits());
    const auto logits = run(prepare(batch, "\"instances\""));
    res.status = 200;
    res.set_content(protocol::encode_v1_response(logits, logits.argmax(1)), "application/json");
  }

  // Runs a handler; protocol errors become their status, anything else a 500 that
  // does not take the server down.
  template <typename Handler>
  httplib::Server::Handler guarded(Handler handler) {
    return [this, handler](const httplib::Request& req, httplib::Response& res) {
      try {
        (this->*handler)(req, res);
      } catch (const ProtocolError& error) {
        answer_error(res, error.status(), error.what());
      } catch (const Error& error) {
        answer_error(res, 400, error.what());
      } catch (const std::exception& error) {
        spdlog::warn("serve: internal error on {} {}: {}", req.method, req.path, error.what());
        answer_error(res, 500, "internal error while running the model");
      }
    };
  }

  void routes() {
    const std::string model_path = R"(/v2/models/([^/]+)(?:/versions/([^/]+))?)";
    http.Get("/v2/health/live", [](const httplib::Request&, httplib::Response& res) { answer(res, 200, {{"live", true}}); });
    http.Get("/v2/health/ready", [this](const httplib::Request&, httplib::Response& res) {
      answer(res, running ? 200 : 503, {{"ready", running.load()}});
    });
    http.Get("/v2", [](const httplib::Request&, httplib::Response& res) {
      answer(res, 200, {{"name", "wmark"}, {"version", WMARK_VERSION_STRING}, {"extensions", {"binary_tensor_data"}}});
    });
    http.Get(model_path, [this](const httplib::Request& req, httplib::Response& res) {
      if (known_model(req, res)) answer(res, 200, model_metadata());
    });
    http.Get(model_path + "/ready", [this](const httplib::Request& req, httplib::Response& res) {
      if (known_model(req, res)) answer(res, 200, {{"name", model.name}, {"ready", true}});
    });
    http.Post(model_path + "/infer", guarded(&Impl::v2_infer));
    http.Get(R"(/v1/models/([^/:]+))", [this](const httplib::Request& req, httplib::Response& res) {
      if (known_model(req, res)) answer(res, 200, {{"name", model.name}, {"ready", true}});
    });
    http.Post(R"(/v1/models/([^/:]+):predict)", guarded(&Impl::v1_predict));

    // Every other 4xx/5xx (no route: 404, body too large: 413, ...) gets a JSON body too.
    http.set_error_handler(httplib::Server::HandlerWithResponse([](const httplib::Request& req, httplib::Response& res) {
      if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
      std::string message = "HTTP " + std::to_string(res.status);
      if (res.status == 404) message = "no endpoint " + req.method + " " + req.path.substr(0, 128);
      if (res.status == 413) message = "request body too large";
      if (res.status == 405) message = "method not allowed";
      res.set_content(protocol::error_body(message), "application/json");
      return httplib::Server::HandlerResponse::Handled;
    }));
    http.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr) {
      answer_error(res, 500, "internal error");
    });
    http.set_logger([this](const httplib::Request& req, const httplib::Response& res) {
      ++requests;
      if (res.status >= 400) ++errors;
      spdlog::debug("serve: {} {} -> {} ({} bytes in, {} out)", req.method, req.path, res.status, req.body.size(),
                    res.body.size());
    });
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
  WMARK_CHECK(o.max_body_bytes() >= 1024, "serve: max body bytes must be at least 1024");
  WMARK_CHECK(o.input_scale() == "unit" || o.input_scale() == "normalized", "serve: input scale '", o.input_scale(),
              "' unknown; use unit or normalized");
  WMARK_CHECK(o.read_timeout_seconds() > 0, "serve: read timeout must be positive");
  impl_->model.network->eval();
  impl_->routes();
}

InferenceServer::~InferenceServer() { stop(); }

int InferenceServer::start() {
  auto& impl = *impl_;
  std::lock_guard<std::mutex> control(impl.control_mutex);
  WMARK_CHECK(!impl.listener.joinable(), "serve: the server is already started");
  const auto& o = impl.options;
  const int workers = o.workers();
  impl.http.new_task_queue = [workers] { return new httplib::ThreadPool(static_cast<std::size_t>(workers)); };
  impl.http.set_payload_max_length(static_cast<std::size_t>(o.max_body_bytes()));
  const auto timeout = std::chrono::duration<double>(o.read_timeout_seconds());
  impl.http.set_read_timeout(std::chrono::duration_cast<std::chrono::microseconds>(timeout));
  impl.http.set_keep_alive_max_count(1000);
  // Small answers go out at once: with Nagle's algorithm and delayed ACKs a batch-1
  // round trip took ~90 ms instead of ~1 ms.
  impl.http.set_tcp_nodelay(true);
  if (o.port() == 0) {
    impl.port = impl.http.bind_to_any_port(o.host());
    WMARK_CHECK(impl.port > 0, "serve: cannot bind to ", o.host(), " on any port");
  } else {
    WMARK_CHECK(impl.http.bind_to_port(o.host(), o.port()), "serve: cannot listen on ", o.host(), ":", o.port(),
                " (address in use, or not an address of this machine?)");
    impl.port = o.port();
  }
  impl.listener = std::thread([&impl] { impl.http.listen_after_bind(); });
  // stop() only reaches a server that is already in its accept loop.
  for (int i = 0; i < 5000 && !impl.http.is_running(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  impl.running = true;
  spdlog::info("serve: model '{}' ({} classes, input {}) at {}/v2/models/{}", impl.model.name, impl.model.num_classes,
               impl.model.input.str(), url(), impl.model.name);
  return impl.port;
}

void InferenceServer::stop() {
  auto& impl = *impl_;
  std::lock_guard<std::mutex> control(impl.control_mutex);
  if (!impl.listener.joinable()) return;
  impl.running = false;
  impl.http.stop();
  impl.listener.join();
  {
    std::lock_guard<std::mutex> lock(impl.stop_mutex);
    impl.has_stopped = true;
  }
  impl.stopped.notify_all();
  spdlog::info("serve: stopped after {} requests", impl.requests.load());
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
