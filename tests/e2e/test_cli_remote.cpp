// The CLI end to end over the network: wmark serve, wmark verify --remote (exit codes as
// in process), and the owner's signed claim checked by a third party.
#include <catch2/catch.hpp>

#include <signal.h>

#include <fstream>

#include <nlohmann/json.hpp>

#include "../support/test_support.h"
#include "../support/torchscript_fixture.h"
#include "../support/watermarked_fixture.h"
#include "wmark/attack/input_preprocessing.h"
#include "wmark/attack/input_transform.h"
#include "wmark/models/checkpoint.h"
#include "wmark/claim/claim.h"
#include "wmark/claim/identity.h"
#include "wmark/util/files.h"
#include "wmark/util/sha256.h"
#include "wmark/verify/verifier.h"

using namespace wmark;
using json = nlohmann::json;

namespace {

std::string save_model(const NetworkPtr& model, const std::filesystem::path& path) {
  const auto& key = test::watermarked_mnist().key;
  CheckpointInfo info{"mnist_cnn", {key.input_shape, 10}, "mnist", key.normalization, 1, json::object()};
  save_checkpoint(path, *model, info);
  return path.string();
}

// `wmark serve` on a free port; returns its URL.
std::string start_server(test::BackgroundProcess& server) {
  const auto line = server.wait_for_line("wmark serve: model", 60);
  INFO(server.output());
  REQUIRE(!line.empty());
  const auto start = line.find("http://");
  return line.substr(start, line.find("/v2/", start) - start);
}

}  // namespace

TEST_CASE("wmark serve + verify --remote: same decision as in process; signed claim checked", "[e2e]") {
  test::TempDir dir;
  const auto& f = test::watermarked_mnist();
  const auto marked = save_model(f.model, dir / "marked.pt");
  const auto clean = save_model(test::clean_mnist(), dir / "clean.pt");
  std::string out;
  REQUIRE(test::run_wmark("identity --out " + (dir / "someone").string(), out) == 0);
  CHECK(test::run_wmark("identity --out " + (dir / "someone").string(), out) == 2);  // never overwritten silently
  // The owner the fixture's key is bound to signs it (as `wmark embed --sign` does).
  const auto owner = (dir / "owner").string();
  f.owner->save(owner);
  const auto key = (dir / "key.wmk").string();
  auto signed_key = f.key;
  sign_key(signed_key, Identity::load(owner + ".key"));
  signed_key.save(key);

  test::BackgroundProcess marked_server({test::wmark_binary(), "serve", "--model", marked, "--name", "mnist", "--port", "0",
                                         "--workers", "2", "--threads", "1"});
  test::BackgroundProcess clean_server({test::wmark_binary(), "serve", "--model", clean, "--name", "mnist", "--port", "0",
                                        "--workers", "2", "--threads", "1"});
  const auto marked_url = start_server(marked_server);
  const auto clean_url = start_server(clean_server);

  REQUIRE(test::run_wmark("verify --model " + marked + " --key " + key + " --report " + (dir / "local.json").string(), out) == 0);
  const auto local = json::parse(read_file(dir / "local.json"));
  for (const std::string protocol : {"--protocol v2", "--protocol v2 --binary", "--protocol v1"}) {
    INFO(protocol << ": " << out);
    const auto report = (dir / "remote.json").string();
    CHECK(test::run_wmark("verify --remote " + marked_url + " --remote-model mnist " + protocol + " --key " + key + " --report " +
                    report + " --force",
                out) == 0);
    const auto remote = json::parse(read_file(report));
    CHECK(remote["matches"] == local["matches"]);
    CHECK(remote["p_value"] == local["p_value"]);
    CHECK(remote["remote"]["requests"].get<int>() >= 2);
    // Remote suspects are named by the exchange itself, local ones by the file's hash.
    CHECK(remote["transcript_sha256"].get<std::string>().size() == 64);
    CHECK_FALSE(remote.contains("model_sha256"));
    CHECK(test::run_wmark("verify --remote " + clean_url + " --remote-model mnist " + protocol + " --key " + key, out) == 1);
  }
  // Budget: 60 images, 25 of the key's 50 triggers and 35 of its 70 control images.
  CHECK(test::run_wmark("verify --remote " + marked_url + " --remote-model mnist --max-queries 60 --key " + key + " --report " +
                  (dir / "budget.json").string(),
              out) == 0);
  CHECK(json::parse(read_file(dir / "budget.json"))["queries"] == 25);
  CHECK(json::parse(read_file(dir / "budget.json"))["control"]["queries"] == 35);
  // Errors: exit 2 with a clear message.
  CHECK(test::run_wmark("verify --remote " + marked_url + " --remote-model resnet --key " + key, out) == 2);
  CHECK_THAT(out, Catch::Contains("model not found"));
  CHECK(test::run_wmark("verify --remote http://127.0.0.1:9 --remote-model mnist --retries 0 --key " + key, out) == 2);
  CHECK_THAT(out, Catch::Contains("cannot reach"));
  CHECK(test::run_wmark("verify --model " + marked + " --remote " + marked_url + " --remote-model mnist --key " + key, out) == 2);

  // The owner signs the claim; a third party checks with the public key only.
  const auto claim = (dir / "claim.json").string();
  const int claimed = test::run_wmark("claim --report " + (dir / "remote.json").string() + " --key " + key + " --identity " +
                                    owner + ".key --out " + claim,
                                out);
  INFO(out);
  REQUIRE(claimed == 0);
  CHECK(test::run_wmark("check-claim " + claim + " --pub " + owner + ".pub", out) == 0);
  CHECK_THAT(out, Catch::Contains("CLAIM VALID: a signed assertion by owner") && Catch::Contains("not checked:") &&
                      Catch::Contains("transcript sha256"));
  CHECK(out.find("secret") == std::string::npos);
  // A claim names its model by content: checked against the file the arbiter holds.
  CHECK(local["model_sha256"] == sha256_hex(read_file(marked)));
  const auto local_claim = (dir / "local-claim.json").string();
  REQUIRE(test::run_wmark("claim --report " + (dir / "local.json").string() + " --key " + key + " --identity " + owner +
                        ".key --out " + local_claim,
                    out) == 0);
  CHECK(test::run_wmark("check-claim " + local_claim + " --pub " + owner + ".pub --model " + marked, out) == 0);
  CHECK(test::run_wmark("check-claim " + local_claim + " --pub " + owner + ".pub --model " + clean, out) == 1);
  CHECK_THAT(out, Catch::Contains("the claim is for another model"));
  CHECK(test::run_wmark("check-claim " + claim + " --pub " + owner + ".pub --model " + marked, out) == 1);
  CHECK_THAT(out, Catch::Contains("names no model file by content"));
  // One altered digit in the reported match count: rejected.
  auto text = read_file(claim);
  const auto at = text.find("\"matches\": ") + 11;
  text[at] = text[at] == '1' ? '2' : '1';
  write_file_atomic(dir / "forged.json", text, false);
  CHECK(test::run_wmark("check-claim " + (dir / "forged.json").string() + " --pub " + owner + ".pub", out) == 1);
  CHECK_THAT(out, Catch::Contains("CLAIM INVALID"));
  // A claim on a clean model's report is refused: it does not verify.
  CHECK(test::run_wmark("verify --remote " + clean_url + " --remote-model mnist --key " + key + " --report " +
                  (dir / "clean.json").string(),
              out) == 1);
  CHECK(test::run_wmark("claim --report " + (dir / "clean.json").string() + " --key " + key + " --identity " + owner +
                  ".key --out " + (dir / "clean-claim.json").string(),
              out) == 2);

  // Clean shutdown on SIGTERM and SIGINT.
  CHECK(marked_server.stop(SIGTERM, 10) == 0);
  CHECK_THAT(marked_server.output(), Catch::Contains("stopped after"));
  CHECK(clean_server.stop(SIGINT, 10) == 0);
}

TEST_CASE("wmark serve serves a TorchScript suspect given its dataset", "[e2e]") {
  test::TempDir dir;
  const auto& f = test::watermarked_mnist();
  const auto script = (dir / "suspect.ts").string();
  test::save_mnist_cnn_as_torchscript(*f.model, script);
  const auto key = (dir / "key.wmk").string();
  f.key.save(key);
  std::string out;
  // Without --dataset the shapes are unknown: a clear error, exit 2.
  CHECK(test::run_wmark("serve --model " + script + " --name m --port 0", out) == 2);
  CHECK_THAT(out, Catch::Contains("--dataset"));
  test::BackgroundProcess server({test::wmark_binary(), "serve", "--model", script, "--dataset", "mnist", "--name", "m",
                                  "--port", "0", "--threads", "1"});
  const auto url = start_server(server);
  CHECK(test::run_wmark("verify --remote " + url + " --remote-model m --binary --key " + key, out) == 0);
  CHECK(server.stop(SIGTERM, 10) == 0);
}

TEST_CASE("wmark serve --preprocess: a thief's deployment is served, bad transforms are refused by name",
          "[e2e]") {
  test::TempDir dir;
  const auto& f = test::watermarked_mnist();
  const auto marked = save_model(f.model, dir / "marked.pt");
  const auto key = (dir / "key.wmk").string();
  f.key.save(key);
  std::string out;
  const auto serve = "serve --model " + marked + " --name m --port 0 ";
  CHECK(test::run_wmark(serve + "--preprocess blur", out) == 2);
  CHECK_THAT(out, Catch::Contains("unknown input transform 'blur'") && Catch::Contains("jpeg-compression"));
  CHECK(test::run_wmark(serve + "--preprocess input-median-smoothing --preprocess-options '{\"kernel\":'", out) == 2);
  CHECK_THAT(out, Catch::Contains("--preprocess-options must be a JSON object"));
  CHECK(test::run_wmark(serve + "--preprocess input-median-smoothing --preprocess-options '{\"kernel\": 4}'", out) == 2);
  CHECK_THAT(out, Catch::Contains("odd"));
  // Behind a 3x3 median filter the content mark is mostly washed out (docs/results.md:
  // 3 of 3 seeds at full data; this small fixture's model sometimes keeps it): the remote
  // verification reports what the same deployment in process gives, as it would against a
  // thief's server, and fewer matches than the model without the filter.
  auto median = std::shared_ptr<const InputTransform>(input_transform_registry().create("input-median-smoothing", {}));
  PreprocessedNetwork deployment(f.model, median, f.key.normalization);
  const auto expected = Verifier().verify_model(deployment, f.key, "deployment", torch::kCPU);
  const auto unfiltered = Verifier().verify_model(*f.model, f.key, "model", torch::kCPU);
  CHECK(expected.matches < unfiltered.matches);
  test::BackgroundProcess server({test::wmark_binary(), "serve", "--model", marked, "--name", "m", "--port", "0",
                                  "--threads", "1", "--preprocess", "input-median-smoothing"});
  const auto url = start_server(server);
  const auto report_path = (dir / "remote.json").string();
  CHECK(test::run_wmark("verify --remote " + url + " --remote-model m --binary --key " + key + " --report " + report_path,
                  out) == (expected.verified ? 0 : 1));
  const auto remote = nlohmann::json::parse(std::ifstream(report_path));
  CHECK(std::abs(remote["matches"].get<std::int64_t>() - expected.matches) <= 1);  // float order on the server
  CHECK(server.stop(SIGTERM, 10) == 0);
}
