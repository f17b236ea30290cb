#include <catch2/catch.hpp>

#include <fstream>

#include <nlohmann/json.hpp>

#include "../support/test_support.h"
#include "wmark/models/checkpoint.h"

using namespace wmark;
using Catch::Matchers::Contains;

TEST_CASE("wmark train trains on a subset and writes a checkpoint and metrics", "[e2e]") {
  test::TempDir dir;
  const std::string out = (dir / "model.pt").string(), metrics = (dir / "metrics.json").string();
  const std::string base = test::wmark_binary() + " train --dataset mnist --data-dir " +
                           test::shared_data().string() + " --subset 3000 --epochs 1 --threads 2 --out " + out;
  std::string output;
  REQUIRE(test::run_command(base + " --metrics " + metrics, output) == 0);
  CHECK_THAT(output, Contains("test_accuracy:"));
  nlohmann::json m = nlohmann::json::parse(std::ifstream(metrics));
  CHECK(m["test_accuracy"].get<double>() > 0.85);
  CHECK(m["train_seconds"].get<double>() > 0);
  CHECK(m["samples_per_second"].get<double>() > 0);
  CHECK(m["train_samples"] == 3000);
  CHECK(read_checkpoint_info(out).arch == "mnist_cnn");

  // An existing output is never replaced without --force.
  const auto before = std::filesystem::last_write_time(out);
  CHECK(test::run_command(base, output) == 2);
  CHECK_THAT(output, Contains("already exists") && Contains("--force"));
  CHECK(std::filesystem::last_write_time(out) == before);
}

TEST_CASE("wmark reports usage and input errors with exit code 2 and one reason", "[e2e]") {
  std::string output;
  CHECK(test::run_wmark("--help", output) == 0);
  CHECK_THAT(output, Contains("train"));
  CHECK(test::run_wmark("train --help", output) == 0);
  CHECK_THAT(output, Contains("--epochs") && Contains("--subset") && Contains("--data-dir"));
  CHECK(test::run_wmark("train --epochs 1", output) == 2);
  CHECK_THAT(output, Contains("--out"));
  CHECK(test::run_wmark("train --dataset imagenet --out /tmp/x.pt", output) == 2);
  CHECK_THAT(output, Contains("unknown dataset 'imagenet'"));
  CHECK(test::run_wmark("train --epochs 0 --out /tmp/x.pt", output) == 2);
  test::TempDir empty;
  CHECK(test::run_wmark("train --dataset mnist --data-dir " + empty.path().string() +
                              " --out " + (empty / "m.pt").string(), output) == 2);
  CHECK_THAT(output, Contains("dataset 'mnist' not found"));
}

TEST_CASE("wmark evaluate refuses a shard outside its count, from the flag or from torchrun's variables", "[e2e]") {
  test::TempDir dir;
  const auto config = dir / "grid.json";
  std::ofstream(config) << R"({"schemes": ["content"], "attacks": [{"attack": "prune"}]})";
  const std::string base = test::wmark_binary() + " evaluate --config " + config.string() + " --out-dir " +
                           (dir / "out").string();
  std::string output;
  for (const std::string spec : {"2/2", "1", "a/b", "-1/2", "0/0", "0/2x"}) {
    INFO(spec);
    CHECK(test::run_command(base + " --shard " + spec, output) == 2);
    CHECK_THAT(output, Contains("--shard must be I/N"));
  }
  CHECK(test::run_command("RANK=3 WORLD_SIZE=2 " + base, output) == 2);
  CHECK_THAT(output, Contains("got '3/2'"));
  CHECK_FALSE(std::filesystem::exists(dir / "out" / "models"));  // refused before any work
}
