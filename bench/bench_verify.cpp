// Verification latency (issue #21): Verifier::verify of a black-box key against a model
// already loaded, in process and over loopback (Open Inference Protocol V2 as JSON and
// as binary tensor data, and V1), as `wmark verify --remote` does it: connect, read the
// model's metadata, query every trigger, decide. Prints the first (cold) run, then the
// median and p90 of --repeat warm runs. bench/verify_latency.sh drives it over the
// built-in architectures with keys of 100 and 1,000 triggers.
//
// With --data-dir, the verifier also checks that the key derives from its secret, as
// `wmark verify` does (regenerating the triggers, which for content triggers reads the
// dataset): the cold run pays for it, warm runs find it cached.
//
//   bench_verify --model marked.pt --key marked.wmk [--repeat 50] [--threads 0] [--data-dir DIR]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "wmark/data/catalog.h"
#include "wmark/models/load_network.h"
#include "wmark/serve/server.h"
#include "wmark/util/runtime.h"
#include "wmark/verify/classifier.h"
#include "wmark/verify/remote_classifier.h"
#include "wmark/util/error.h"
#include "wmark/verify/verifier.h"
#include "wmark/watermark/key.h"

using namespace wmark;
using Clock = std::chrono::steady_clock;

namespace {

double elapsed_ms(const Clock::time_point& start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

// Runs `once` once cold, then `repeat` times warm, and prints the cold time and the warm
// median and p90 in ms.
void measure(const std::string& what, int repeat, const std::function<bool()>& once) {
  const auto first = Clock::now();
  const bool verified = once();
  const double cold = elapsed_ms(first);
  std::vector<double> ms;
  for (int i = 0; i < repeat; ++i) {
    const auto start = Clock::now();
    once();
    ms.push_back(elapsed_ms(start));
  }
  std::sort(ms.begin(), ms.end());
  std::printf("%-28s cold %7.2f ms   warm median %7.2f ms   p90 %7.2f ms   (%d runs)%s\n", what.c_str(), cold,
              ms[ms.size() / 2], ms[std::min(ms.size() - 1, ms.size() * 9 / 10)], repeat,
              verified ? "" : "   (the key did not verify)");
}

}  // namespace

int run(int argc, char** argv) {
  CLI::App app("Verification latency: in process and over loopback");
  std::string model_path, key_path, data_dir;
  int repeat = 50, threads = 0;
  app.add_option("--model", model_path, "watermarked checkpoint")->required();
  app.add_option("--key", key_path, "its black-box key")->required();
  app.add_option("--repeat", repeat, "timed runs per path")->check(CLI::Range(1, 100000));
  app.add_option("--threads", threads, "intra-op threads (0: all cores)");
  app.add_option("--data-dir", data_dir, "check the key's derivation, finding its dataset here (as wmark verify)");
  CLI11_PARSE(app, argc, argv);
  configure_runtime(RuntimeOptions().threads(threads));

  const auto key = WatermarkKey::load(key_path);
  if (!key.black_box()) {
    std::fprintf(stderr, "%s is a white-box key; this benchmark queries models\n", key_path.c_str());
    return 1;
  }
  auto loaded = load_network(model_path, "", DatasetTraits{key.input_shape, key.num_classes, key.normalization});
  auto options = VerifierOptions();
  if (!data_dir.empty()) options.require_derivable_key(true).data_dir(std::filesystem::path(data_dir));
  const Verifier verifier(options);
  // A target-label key's control images are sent with its triggers (verifier.h).
  const long long controls = key.tensors.count("control_images") ? key.tensor("control_images").size(0) : 0;
  std::printf("key: %s, %lld triggers + %lld control images\n", key.method.c_str(),
              static_cast<long long>(key.tensor("images").size(0)), controls);

  ModuleClassifier in_process(loaded.model, key.normalization, loaded.description);
  measure("in process", repeat, [&] { return verifier.verify(in_process, key).verified; });

  ServedModel served;
  served.name = "bench";
  served.network = loaded.model;
  served.input = key.input_shape;
  served.num_classes = key.num_classes;
  served.normalization = key.normalization;
  InferenceServer server(served, ServerOptions().host("127.0.0.1").port(0).workers(2));
  server.start();
  const auto remote = [&](const std::string& protocol, bool binary) {
    return [&, protocol, binary] {
      RemoteClassifier suspect(RemoteOptions().url(server.url()).model("bench").protocol(protocol).binary(binary),
                               key.input_shape, key.normalization);
      return verifier.verify(suspect, key).verified;
    };
  };
  measure("loopback OIP v2 (JSON)", repeat, remote("v2", false));
  measure("loopback OIP v2 (binary)", repeat, remote("v2", true));
  measure("loopback v1 (JSON)", repeat, remote("v1", false));
  server.stop();
  return 0;
}

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const Error& error) {  // a missing or unfit model or key: say which, no abort
    std::fprintf(stderr, "bench_verify: %s\n", error.what());
    return 1;
  }
}
