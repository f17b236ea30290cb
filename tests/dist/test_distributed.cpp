// Data-parallel training on c10d over loopback: 2 processes x 1 thread train the same
// parameters as 1 process with the same global batch; a distributed embed verifies; a
// dead or missing peer ends the others with a clear error within the timeout.
#include <catch2/catch.hpp>

#include <signal.h>
#include <unistd.h>

#include <chrono>

#include <torch/torch.h>

#include "../support/test_support.h"
#include "wmark/models/checkpoint.h"
#include "wmark/models/registry.h"

using namespace wmark;

namespace {

std::string launch_local() { return std::string(WMARK_TEST_SOURCE_DIR) + "/scripts/launch-local.sh"; }

// A port per test process and call, away from the usual 29500 and below Linux's
// ephemeral range (32768 and up), where the serve tests' closed connections linger in
// TIME_WAIT and a rendezvous port would fail to bind.
int next_port() {
  static int offset = 0;
  return 21000 + static_cast<int>(getpid() % 2900) * 4 + (offset++ % 4);
}

std::string data_flags(int subset) {
  return " --dataset mnist --data-dir " + test::shared_data().string() + " --subset " + std::to_string(subset);
}

std::vector<at::Tensor> parameters_of(const std::string& path) {
  auto loaded = load_checkpoint(path);
  std::vector<at::Tensor> out;
  for (const auto& p : loaded.model->parameters()) out.push_back(p.detach().contiguous());
  return out;
}

// Embeds with `embed_flags` in 2 processes (rank 0 writes) and verifies the result.
void embed_on_two_ranks_and_verify(const std::string& embed_flags, const std::string& verify_flags) {
  test::TempDir dir;
  std::string out;
  const int code = test::run_command("MASTER_PORT=" + std::to_string(next_port()) + " " + launch_local() + " 2 " +
                                         test::wmark_binary() + " embed" + data_flags(3000) + " " +
                                         embed_flags + " --threads 1 --out " + (dir / "m.pt").string() +
                                         " --key-out " + (dir / "k.wmk").string(),
                                     out);
  INFO(out);
  REQUIRE(code == 0);
  CHECK(test::run_wmark("verify " + verify_flags + " --model " + (dir / "m.pt").string() +
                              " --key " + (dir / "k.wmk").string(),
                          out) == 0);
}

}  // namespace

TEST_CASE("2 processes x 1 thread train the parameters 1 process trains with the same global batch", "[dist]") {
  test::TempDir dir;
  const std::string common = " train" + data_flags(512) +
                             " --epochs 1 --batch-size 64 --optimizer sgd --lr 0.05 --seed 3 --threads 1 --out ";
  std::string out;
  REQUIRE(test::run_command(test::wmark_binary() + common + (dir / "single.pt").string(), out) == 0);
  const int code = test::run_command("MASTER_PORT=" + std::to_string(next_port()) + " " + launch_local() + " 2 " +
                                         test::wmark_binary() + common + (dir / "dist.pt").string(),
                                     out);
  INFO(out);
  REQUIRE(code == 0);
  // Rank 0 alone logs and writes: one epoch line, one model.
  CHECK(out.find("epoch 1/1") == out.rfind("epoch 1/1"));
  const auto single = parameters_of((dir / "single.pt").string());
  const auto dist = parameters_of((dir / "dist.pt").string());
  REQUIRE(single.size() == dist.size());
  double max_difference = 0;
  for (std::size_t i = 0; i < single.size(); ++i) {
    max_difference = std::max(max_difference, (single[i] - dist[i]).abs().max().item<double>());
  }
  INFO("largest parameter difference " << max_difference);
  CHECK(max_difference < 1e-4);
  // Not trivially equal: training moved the weights far more than that from where both
  // runs started (the CLI seeds the initialisation with --seed).
  torch::manual_seed(3);
  auto initial = model_registry().create("mnist_cnn", {{1, 28, 28}, 10});
  double moved = 0;
  const auto start = initial->parameters();
  for (std::size_t i = 0; i < single.size(); ++i) {
    moved = std::max(moved, (single[i] - start[i].detach().contiguous()).abs().max().item<double>());
  }
  CHECK(moved > 100 * max_difference);
}

TEST_CASE("a distributed run resumes from its checkpoint where it stopped", "[dist]") {
  test::TempDir dir;
  const std::string common = " train" + data_flags(512) + " --batch-size 64 --optimizer sgd --lr 0.05 --seed 4 --threads 1";
  auto launch = [&](const std::string& args, std::string& out) {
    return test::run_command("MASTER_PORT=" + std::to_string(next_port()) + " " + launch_local() + " 2 " +
                                 test::wmark_binary() + common + args,
                             out);
  };
  std::string out;
  REQUIRE(launch(" --epochs 2 --out " + (dir / "straight.pt").string(), out) == 0);
  // Stopped after epoch 1, then resumed to epoch 2 by both ranks from rank 0's checkpoint.
  REQUIRE(launch(" --epochs 1 --checkpoint " + (dir / "ckpt.pt").string() + " --out " + (dir / "half.pt").string(), out) == 0);
  const int code = launch(" --epochs 2 --resume " + (dir / "ckpt.pt").string() + " --out " + (dir / "resumed.pt").string(), out);
  INFO(out);
  REQUIRE(code == 0);
  CHECK_THAT(out, Catch::Contains("resuming from") && Catch::Contains("epoch 2/2"));
  CHECK(out.find("epoch 1/2") == std::string::npos);
  const auto straight = parameters_of((dir / "straight.pt").string());
  const auto resumed = parameters_of((dir / "resumed.pt").string());
  REQUIRE(straight.size() == resumed.size());
  for (std::size_t i = 0; i < straight.size(); ++i) CHECK(torch::allclose(straight[i], resumed[i], 1e-5, 1e-6));
}

TEST_CASE("a trailing batch too small to give every rank 2 samples is dropped", "[dist]") {
  // 130 = 2 x 64 + 2: sharded over 3 processes the last batch would leave one rank with
  // no sample at all, whose NaN gradients averaging would spread to every rank.
  test::TempDir dir;
  std::string out;
  const int code = test::run_command("MASTER_PORT=" + std::to_string(next_port()) + " " + launch_local() + " 3 " +
                                         test::wmark_binary() + " train" + data_flags(130) +
                                         " --epochs 1 --batch-size 64 --optimizer sgd --lr 0.05 --threads 1 --out " +
                                         (dir / "m.pt").string(),
                                     out);
  INFO(out);
  REQUIRE(code == 0);
  for (const auto& p : parameters_of((dir / "m.pt").string())) CHECK(torch::isfinite(p).all().item<bool>());
}

TEST_CASE("torchrun (Debian's python3-torch) starts a data-parallel wmark train", "[dist]") {
  test::TempDir dir;
  std::string out;
  // --redirects 1 --tee 1: Debian's PyTorch 1.13 under Python 3.11 cannot parse the default 0.
  const int code = test::run_command("/usr/bin/python3 -m torch.distributed.run --standalone --nproc_per_node=2 "
                                     "--redirects 1 --tee 1 --log_dir " + (dir / "logs").string() + " --no_python " +
                                         test::wmark_binary() + " train" + data_flags(1000) +
                                         " --epochs 1 --out " + (dir / "m.pt").string(),
                                     out);
  INFO(out);
  REQUIRE(code == 0);
  CHECK_THAT(out, Catch::Contains("[default0]:model: "));
  CHECK(out.find("[default1]:model: ") == std::string::npos);  // rank 1 writes nothing
  CHECK(std::filesystem::is_regular_file(dir / "m.pt"));
}

TEST_CASE("a distributed embed produces a model that verifies, written once by rank 0", "[dist]") {
  embed_on_two_ranks_and_verify("--epochs 2 --trigger content --trigger-size 40", "");
}

TEST_CASE("a rank that dies or never joins stops the others with a clear error", "[dist]") {
  test::TempDir dir;
  const auto port = std::to_string(next_port());
  auto rank = [&](int r, const std::string& out) {
    return std::vector<std::string>{test::wmark_binary(), "train", "--dataset", "mnist", "--data-dir",
                                    test::shared_data().string(), "--subset", "6000", "--epochs", "20", "--threads", "1",
                                    "--rank", std::to_string(r), "--world-size", "2", "--master", "127.0.0.1:" + port,
                                    "--dist-timeout", "20", "--out", (dir / out).string()};
  };
  {
    test::BackgroundProcess first(rank(0, "a.pt"));
    test::BackgroundProcess second(rank(1, "b.pt"));
    REQUIRE_FALSE(first.wait_for_line("epoch 1/20", 120).empty());
    kill(second.pid(), SIGKILL);
    const auto start = std::chrono::steady_clock::now();
    const int code = first.stop(0, 30);  // signal 0: only wait for it to end by itself
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    INFO(first.output());
    CHECK(code == 2);
    CHECK(seconds < 25);
    CHECK_THAT(first.output(), Catch::Contains("rank 0 of 2") && Catch::Contains("failed"));
  }
  // A peer that never joins: rank 0 gives up after the timeout.
  std::string out;
  const auto start = std::chrono::steady_clock::now();
  const int code = test::run_wmark("train" + data_flags(500) + " --world-size 2 --rank 0 " +
                                         "--master 127.0.0.1:" + std::to_string(next_port()) +
                                         " --dist-timeout 3 --out " + (dir / "c.pt").string(),
                                     out);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  INFO(out);
  CHECK(code == 2);
  CHECK(seconds < 20);
  CHECK_THAT(out, Catch::Contains("cannot join the process group"));
  // Malformed rendezvous options fail at once.
  CHECK(test::run_wmark("train" + data_flags(500) + " --world-size 2 --rank 0 --master nohost " +
                              "--out " + (dir / "d.pt").string(),
                          out) == 2);
  CHECK_THAT(out, Catch::Contains("ADDR:PORT"));
  CHECK(test::run_wmark("train" + data_flags(500) + " --world-size 2 --rank 2 --master " +
                              "127.0.0.1:" + std::to_string(next_port()) + " --out " + (dir / "d.pt").string(),
                          out) == 2);
  CHECK_THAT(out, Catch::Contains("rank 2 outside [0, 2)"));
}

TEST_CASE("a distributed ewe embed, its triggers moved on every rank alike, verifies", "[dist]") {
  // Each rank moves the triggers against its replica after the warm-up and entangles its
  // own shard; rank 0's key must match the model all ranks trained.
  embed_on_two_ranks_and_verify("--epochs 3 --method ewe --trigger-size 40 --trigger-steps 2",
                                "--accept-unverifiable-keys");
}
