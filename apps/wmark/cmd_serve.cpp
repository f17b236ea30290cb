// wmark serve: a checkpoint or TorchScript model behind the Open Inference Protocol
// and the V1 predict protocol, until SIGINT or SIGTERM.
#include <pthread.h>
#include <signal.h>

#include <iostream>
#include <thread>

#include "commands.h"
#include "wmark/attack/input_preprocessing.h"
#include "wmark/data/catalog.h"
#include "wmark/models/checkpoint.h"
#include "wmark/models/module_adapter.h"
#include "wmark/serve/dawn.h"
#include "wmark/serve/server.h"
#include "wmark/util/error.h"

namespace wmark::cli {
namespace {

struct ServeCommand {
  std::string model, arch, name, dataset, host = "127.0.0.1", input_scale = "unit", device = "cpu";
  int port = 8000, workers = 4, threads = 0, max_connections = 256, max_connections_per_client = 64;
  std::int64_t max_body_bytes = 32ll << 20, max_batch = 256, max_header_bytes = 16 << 10;
  double request_timeout = 10;
  std::string dawn, dawn_log;  // DAWN: the server key and the log of changed answers
  std::int64_t dawn_max_log = 1000000;
  std::string preprocess, preprocess_options;  // an input transform in front of the model
};

ServedModel open_model(const ServeCommand& c, c10::Device device) {
  ServedModel served;
  served.name = c.name;
  served.device = device;
  // A TorchScript file records no shapes: the dataset it was trained on gives them.
  WMARK_CHECK(!c.dataset.empty() || is_wmark_checkpoint(c.model, c.arch), c.model, " is not a wmark checkpoint; "
              "serving it as TorchScript needs --dataset (the input shape, class count and normalisation it was "
              "trained with)");
  const auto loaded = load_network(c.model, c.arch,
                                   c.dataset.empty() ? std::nullopt : std::optional(dataset_traits(c.dataset)), device);
  served.network = loaded.model;
  if (!c.preprocess.empty()) {
    const auto options = c.preprocess_options.empty() ? nlohmann::json::object()
                                                      : nlohmann::json::parse(c.preprocess_options, nullptr, false);
    WMARK_CHECK(options.is_object(), "--preprocess-options must be a JSON object, got '", c.preprocess_options, "'");
    std::shared_ptr<const InputTransform> transform = input_transform_registry().create(c.preprocess, options);
    served.network = std::make_shared<PreprocessedNetwork>(loaded.model, transform, loaded.normalization);
  }
  served.input = loaded.spec.input;
  served.num_classes = loaded.spec.num_classes;
  served.normalization = loaded.normalization;
  if (!c.dawn.empty()) {
    WMARK_CHECK(!c.dawn_log.empty(), "--dawn needs --dawn-log, the file the changed answers are appended to");
    served.dawn = std::make_shared<DawnAnswers>(WatermarkKey::load(c.dawn), c.dawn_log, c.dawn_max_log);
  }
  return served;
}

int run_serve(const ServeCommand& c) {
  // SIGINT/SIGTERM are blocked in every thread (first: threads inherit the mask, and
  // LibTorch starts its pools below) and taken by one waiting thread, which stops the
  // server outside signal context.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  setup_runtime(c.threads);
  const auto device = parse_device(c.device);
  auto served = open_model(c, device);
  const auto server_dawn = served.dawn;
  InferenceServer server(std::move(served), ServerOptions()
                                                    .host(c.host)
                                                    .port(c.port)
                                                    .workers(c.workers)
                                                    .max_body_bytes(c.max_body_bytes)
                                                    .max_batch(c.max_batch)
                                                    .max_header_bytes(c.max_header_bytes)
                                                    .request_timeout_seconds(c.request_timeout)
                                                    .max_connections(c.max_connections)
                                                    .max_connections_per_client(c.max_connections_per_client)
                                                    .input_scale(c.input_scale));
  server.start();
  std::cout << "wmark serve: model '" << c.name << "' at " << server.url() << "/v2/models/" << c.name << std::endl;
  std::thread waiter([&server, &signals] {
    int received = 0;
    sigwait(&signals, &received);
    server.stop();
  });
  server.wait();
  waiter.join();
  const auto stats = server.stats();
  std::cout << "wmark serve: stopped after " << stats.requests << " requests (" << stats.errors << " errors, "
            << stats.images << " images)" << std::endl;
  if (const auto& dawn = server_dawn) {
    std::cout << "wmark serve: DAWN changed " << dawn->changed() << " answers; the log " << c.dawn_log << " holds "
              << dawn->logged() << std::endl;
  }
  return 0;
}

}  // namespace

void add_serve_command(CLI::App& app, Dispatch& dispatch) {
  auto c = std::make_shared<ServeCommand>();
  auto* sub = app.add_subcommand(
      "serve", "Serve a model over the Open Inference Protocol (KServe V2) and V1 predict until SIGINT/SIGTERM");
  sub->add_option("--model", c->model, "a wmark checkpoint or a TorchScript file")->required()->check(CLI::ExistingFile);
  sub->add_option("--arch", c->arch, "architecture of a wmark checkpoint (checked against the file)");
  sub->add_option("--dataset", c->dataset, "TorchScript models: the dataset they take (mnist, fashion, cifar10)");
  sub->add_option("--name", c->name, "the model's name in URLs")->required();
  sub->add_option("--host", c->host, "address to listen on (default: loopback only)");
  sub->add_option("--port", c->port, "TCP port; 0 = any free port (printed)")->check(CLI::Range(0, 65535));
  sub->add_option("--workers", c->workers, "threads that read, parse and answer requests")->check(CLI::Range(1, 256));
  sub->add_option("--max-body-bytes", c->max_body_bytes, "larger requests get 413")->check(CLI::Range(1024ll, 1ll << 32));
  sub->add_option("--max-batch", c->max_batch, "more images per request get 413")->check(CLI::Range(1ll, 1ll << 20));
  sub->add_option("--max-header-bytes", c->max_header_bytes, "larger request headers get 431")
      ->check(CLI::Range(1024ll, 1ll << 20));
  sub->add_option("--request-timeout", c->request_timeout,
                  "seconds a client has for a whole request (headers and body); idle connections close then too")
      ->check(CLI::Range(0.1, 3600.0));
  sub->add_option("--max-connections", c->max_connections,
                  "open connections at most (at the cap the longest-waiting one is evicted)")
      ->check(CLI::Range(1, 1 << 20));
  sub->add_option("--max-connections-per-client", c->max_connections_per_client,
                  "open connections from one client address at most")
      ->check(CLI::Range(1, 1 << 20));
  sub->add_option("--input-scale", c->input_scale,
                  "FP32 inputs hold pixels in [0,1] (unit: the server normalises) or normalized values")
      ->check(CLI::IsMember({"unit", "normalized"}));
  sub->add_option("--dawn", c->dawn, "DAWN: change a keyed fraction of answers with this server key (wmark dawn init)")
      ->check(CLI::ExistingFile);
  sub->add_option("--dawn-log", c->dawn_log, "DAWN: append the changed answers here (created 0600)");
  sub->add_option("--dawn-max-log", c->dawn_max_log, "DAWN: entries the log holds at most")
      ->check(CLI::Range(1ll, 1ll << 40));
  sub->add_option("--preprocess", c->preprocess,
                  "run this input transform on every input before the model, as a thief's deployment may "
                  "(jpeg-compression, input-median-smoothing, ...: the input-preprocessing attacks)");
  sub->add_option("--preprocess-options", c->preprocess_options, "the transform's options, as JSON");
  sub->add_option("--device", c->device, "cpu or cuda[:N]");
  sub->add_option("--threads", c->threads, "intra-op threads (default: all cores)");
  sub->callback([c, &dispatch] { dispatch.action = [c] { return run_serve(*c); }; });
}

}  // namespace wmark::cli
