// Load test of `wmark serve` on loopback: concurrent infer requests (batch 1 as JSON,
// batch 64 as binary tensor data) mixed with a stream of malformed ones, for a bounded
// time. Checks every answer against in-process predictions, every malformed request
// against its 4xx status, and the server's resident memory between rounds; prints
// requests/s and p50/p99 latency. Exit 0 only if all answers were right and memory
// stayed flat.
//
//   serve_load --cli build/wmark [--seconds 10] [--clients 4] [--server-threads 2] [--rounds 3]
#include <httplib.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "wmark/models/checkpoint.h"
#include "wmark/models/registry.h"
#include "wmark/protocol/inference_protocol.h"
#include "wmark/train/evaluate.h"
#include "wmark/util/runtime.h"

using namespace wmark;
using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

struct Server {
  pid_t pid = -1;
  std::string url;
  int output = -1;  // the server's stdout, kept open (closing it would SIGPIPE the server)
};

Server launch(const std::vector<std::string>& argv) {
  int fds[2];
  if (pipe(fds) != 0) throw std::runtime_error("pipe failed");
  Server server;
  server.pid = fork();
  if (server.pid == 0) {
    dup2(fds[1], STDOUT_FILENO);
    close(fds[0]);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execv(args[0], args.data());
    _exit(127);
  }
  close(fds[1]);
  std::string text;
  char buffer[512];
  const auto deadline = Clock::now() + std::chrono::seconds(60);
  while (text.find("/v2/models/") == std::string::npos && Clock::now() < deadline) {
    pollfd p{fds[0], POLLIN, 0};
    if (poll(&p, 1, 1000) <= 0) continue;
    const auto n = read(fds[0], buffer, sizeof(buffer));
    if (n <= 0) break;
    text.append(buffer, static_cast<std::size_t>(n));
  }
  server.output = fds[0];
  const auto start = text.find("http://");
  if (start == std::string::npos) throw std::runtime_error("wmark serve did not start: " + text);
  server.url = text.substr(start, text.find("/v2/", start) - start);
  return server;
}

double rss_mb(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;
  }
  return -1;
}

struct Phase {
  std::string name;
  std::int64_t batch;
  bool binary;
};

struct Totals {
  std::mutex mutex;
  std::vector<double> latencies_ms;
  std::atomic<std::int64_t> good{0}, wrong{0}, failed{0}, malformed_ok{0}, malformed_wrong{0};
};

double percentile(std::vector<double> values, double q) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  return values[static_cast<std::size_t>(q * static_cast<double>(values.size() - 1))];
}

// Malformed requests, each with the status the protocol prescribes.
std::vector<std::pair<std::string, int>> malformed_requests() {
  return {{"{\"inputs\": [", 400},
          {R"({"inputs": [{"name": "input", "shape": [1, 1, 28, 28], "datatype": "BYTES", "data": ["x"]}]})", 400},
          {R"({"inputs": [{"name": "input", "shape": [1, 3, 28, 28], "datatype": "FP32", "data": [0]}]})", 400},
          {R"({"inputs": [{"name": "input", "shape": [100000000, 1, 28, 28], "datatype": "FP32", "data": [0]}]})", 413},
          {R"({"inputs": [{"name": "input", "shape": [1, 1, 28, 28], "datatype": "UINT8", "data": [300]}]})", 400},
          {"[]", 400}};
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Load test of wmark serve on loopback"};
  std::string cli;
  double seconds = 10;
  int clients = 4, server_threads = 2;
  double max_growth_mb = 64;
  int rounds = 3;
  app.add_option("--cli", cli, "the wmark binary")->required();
  app.add_option("--seconds", seconds, "seconds per phase and round");
  app.add_option("--clients", clients, "concurrent well-formed clients");
  app.add_option("--server-threads", server_threads, "intra-op threads of the server");
  app.add_option("--rounds", rounds, "rounds of both phases (at least 2)")->check(CLI::Range(2, 100));
  app.add_option("--max-rss-growth-mb", max_growth_mb,
                 "fail if the server grows more than this from the second round to the last");
  CLI11_PARSE(app, argc, argv);
  configure_runtime(RuntimeOptions().threads(1));

  // A random mnist_cnn: latency does not depend on the weights; answers are checked
  // against the same checkpoint run in process.
  const std::string dir = "/tmp/wmark-serve-load-" + std::to_string(getpid());
  std::filesystem::create_directories(dir);
  const std::string model_path = dir + "/model.pt";
  torch::manual_seed(3);
  const ModelSpec spec{{1, 28, 28}, 10};
  auto model = model_registry().create("mnist_cnn", spec);
  const Normalization normalization{{0.1307}, {0.3081}};
  save_checkpoint(model_path, *model, {"mnist_cnn", spec, "mnist", normalization, 0, json::object()}, nullptr, true);
  const auto pool = torch::randint(0, 256, {256, 1, 28, 28}, torch::kUInt8);
  const auto expected = predict_labels(*model, pool, normalization, c10::Device(c10::kCPU));

  auto server = launch({cli, "serve", "--model", model_path, "--name", "m", "--port", "0", "--workers",
                        std::to_string(clients + 1), "--threads", std::to_string(server_threads), "--max-batch", "64"});
  std::cout << "server " << server.url << " (pid " << server.pid << ", " << clients + 1 << " workers, " << server_threads
            << " intra-op threads); " << clients << " clients + 1 malformed stream, " << seconds << " s per phase\n";

  const std::vector<Phase> phases = {{"batch 1, JSON", 1, false}, {"batch 64, binary", 64, true}};
  const auto bad = malformed_requests();
  json results = json::array();
  std::vector<double> rss;
  bool ok = true;
  for (int round = 0; round < rounds; ++round) {
    for (const auto& phase : phases) {
      Totals totals;
      std::atomic<bool> stop{false};
      std::vector<std::thread> threads;
      for (int c = 0; c < clients; ++c) {
        threads.emplace_back([&, c] {
          httplib::Client client(server.url);
          client.set_keep_alive(true);
          client.set_tcp_nodelay(true);
          client.set_read_timeout(std::chrono::seconds(30));
          std::int64_t i = c * 37;
          std::vector<double> local;
          while (!stop) {
            const auto start = (i++ * phase.batch) % (pool.size(0) - phase.batch + 1);
            const auto images = pool.narrow(0, start, phase.batch);
            protocol::InferRequest request{"", {{"input", images, phase.binary}}, {{"label", phase.binary}}, false};
            const auto body = protocol::encode_infer_request(request);
            httplib::Headers headers;
            if (body.json_length) headers.emplace(protocol::kInferenceHeaderContentLength, std::to_string(*body.json_length));
            const auto t0 = Clock::now();
            auto result = client.Post("/v2/models/m/infer", headers, body.bytes, body.content_type());
            const double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
            if (!result || result->status != 200) {
              ++totals.failed;
              continue;
            }
            std::optional<std::size_t> json_length;
            if (result->has_header(protocol::kInferenceHeaderContentLength))
              json_length = std::stoull(result->get_header_value(protocol::kInferenceHeaderContentLength));
            const auto response = protocol::decode_infer_response({result->body, json_length});
            const bool right = torch::equal(response.outputs.at(0).data, expected.narrow(0, start, phase.batch));
            ++(right ? totals.good : totals.wrong);
            local.push_back(ms);
          }
          std::lock_guard<std::mutex> lock(totals.mutex);
          totals.latencies_ms.insert(totals.latencies_ms.end(), local.begin(), local.end());
        });
      }
      threads.emplace_back([&] {
        httplib::Client client(server.url);
        std::size_t i = 0;
        while (!stop) {
          const auto& [body, status] = bad[i++ % bad.size()];
          auto result = client.Post("/v2/models/m/infer", body, "application/json");
          ++((result && result->status == status) ? totals.malformed_ok : totals.malformed_wrong);
        }
      });
      const auto t0 = Clock::now();
      std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
      stop = true;
      for (auto& t : threads) t.join();
      const double elapsed = std::chrono::duration<double>(Clock::now() - t0).count();
      const auto requests = totals.good + totals.wrong;
      const json row = {{"round", round + 1},
                        {"phase", phase.name},
                        {"requests_per_s", requests / elapsed},
                        {"images_per_s", requests * phase.batch / elapsed},
                        {"p50_ms", percentile(totals.latencies_ms, 0.5)},
                        {"p99_ms", percentile(totals.latencies_ms, 0.99)},
                        {"wrong_answers", totals.wrong.load()},
                        {"failed", totals.failed.load()},
                        {"malformed_answered_right", totals.malformed_ok.load()},
                        {"malformed_answered_wrong", totals.malformed_wrong.load()},
                        {"server_rss_mb", rss_mb(server.pid)}};
      results.push_back(row);
      std::printf("round %d  %-17s %8.1f req/s %9.1f img/s  p50 %7.2f ms  p99 %7.2f ms  wrong %lld  failed %lld  "
                  "malformed %lld ok / %lld wrong  rss %.1f MB\n",
                  round + 1, phase.name.c_str(), row["requests_per_s"].get<double>(), row["images_per_s"].get<double>(),
                  row["p50_ms"].get<double>(), row["p99_ms"].get<double>(), static_cast<long long>(totals.wrong.load()),
                  static_cast<long long>(totals.failed.load()), static_cast<long long>(totals.malformed_ok.load()),
                  static_cast<long long>(totals.malformed_wrong.load()), row["server_rss_mb"].get<double>());
      std::fflush(stdout);
      ok = ok && totals.wrong == 0 && totals.failed == 0 && totals.malformed_wrong == 0 && requests > 0;
    }
    rss.push_back(rss_mb(server.pid));
  }
  // Memory stays flat: once warm (after round 1), the same load may not grow the server.
  const double growth = rss.back() - rss[0];
  std::printf("server RSS after round 1: %.1f MB, after round %d: %.1f MB (growth %.1f MB, limit %.0f)\n", rss[0], rounds,
              rss.back(), growth, max_growth_mb);
  ok = ok && growth <= max_growth_mb;

  kill(server.pid, SIGTERM);
  std::string last;
  char buffer[512];
  for (ssize_t n; (n = read(server.output, buffer, sizeof(buffer))) > 0;) last.append(buffer, static_cast<std::size_t>(n));
  close(server.output);
  int status = 0;
  waitpid(server.pid, &status, 0);
  std::cout << last;
  const bool clean_exit = WIFEXITED(status) && WEXITSTATUS(status) == 0;
  std::printf("server shut down %s\n", clean_exit ? "cleanly (exit 0)" : "UNCLEANLY");
  std::filesystem::remove_all(dir);
  std::cout << json{{"serve_load", results}, {"rss_growth_mb", growth}}.dump() << "\n";
  return ok && clean_exit ? 0 : 1;
}
