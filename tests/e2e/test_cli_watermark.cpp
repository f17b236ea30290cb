#include <catch2/catch.hpp>

#include <fstream>
#include <map>
#include <sstream>

#include <nlohmann/json.hpp>
#include <torch/script.h>
#include <torch/torch.h>

#include "../support/local_tsa.h"
#include "../support/test_support.h"
#include "wmark/claim/timestamp.h"
#include "../support/torchscript_fixture.h"
#include "wmark/claim/identity.h"
#include "wmark/data/image_file.h"
#include "wmark/models/checkpoint.h"
#include "wmark/util/files.h"
#include "wmark/util/sha256.h"
#include "wmark/watermark/key.h"

using namespace wmark;
using Catch::Matchers::Contains;

namespace {

// One clean model and one watermarked model per generator, trained once per process
// with the CLI on a 4k MNIST subset.
struct WatermarkFixture {
  test::TempDir dir;
  std::string data = " --data-dir " + test::shared_data().string();
  std::map<std::string, std::string> embed_output;

  std::string path(const std::string& name) const { return (dir / name).string(); }

  WatermarkFixture() {
    std::string out;
    REQUIRE(test::run_wmark("train --dataset mnist --subset 4000 --epochs 2 --seed 21" + data +
                                  " --out " + path("clean.pt"), out) == 0);
    // The owner's identity signs the content key (wmark embed --sign).
    REQUIRE(test::run_wmark("identity --out " + path("owner"), out) == 0);
    for (const std::string trigger : {"content", "noise", "unrelated"}) {
      const std::string sign = trigger == "content" ? " --sign " + path("owner.key") : "";
      const int code = test::run_wmark("embed --dataset mnist --subset 4000 --epochs 2 --seed 5" +
                                             data + " --trigger " + trigger + sign + " --out " + path(trigger + ".pt") +
                                             " --key-out " + path(trigger + ".wmk") + " --metrics " +
                                             path(trigger + ".json"), out);
      INFO(out);
      REQUIRE(code == 0);
      embed_output[trigger] = out;
    }
  }
};

const WatermarkFixture& cli_fixture() {
  static WatermarkFixture instance;
  return instance;
}

std::string data_flag() { return " --data-dir " + test::shared_data().string(); }

// The lines of a command's output that are not time-stamped log lines: its decision.
std::string decision(const std::string& out) {
  std::istringstream lines(out);
  std::string line, kept;
  while (std::getline(lines, line))
    if (line.rfind("[", 0) != 0) kept += line + "\n";
  return kept;
}

int verify(const std::string& args, std::string& out) {
  return test::run_wmark("verify " + args, out);
}

}  // namespace

TEST_CASE("each generator's watermark verifies and a clean model is rejected", "[e2e]") {
  const auto& f = cli_fixture();
  for (const std::string trigger : {"content", "noise", "unrelated"}) {
    INFO("trigger " << trigger);
    nlohmann::json metrics = nlohmann::json::parse(std::ifstream(f.path(trigger + ".json")));
    CHECK(metrics["trigger_accuracy"].get<double>() >= 0.95);
    CHECK(metrics["test_accuracy"].get<double>() >= 0.9);
    CHECK_THAT(f.embed_output.at(trigger), !Contains("\"images\""));

    std::string out;
    CHECK(verify("--model " + f.path(trigger + ".pt") + " --arch mnist_cnn --key " + f.path(trigger + ".wmk") +
                     " --report " + f.path(trigger + "-report.json"), out) == 0);
    CHECK_THAT(out, Contains("VERIFIED: ") && Contains("/100 triggers matched"));
    nlohmann::json report = nlohmann::json::parse(std::ifstream(f.path(trigger + "-report.json")));
    CHECK(report["verified"] == true);
    // One target class: the control images' answers are printed beside the triggers'.
    if (trigger == "content") CHECK(report.contains("control"));
    if (report.contains("control"))
      CHECK_THAT(out, Contains("; control: ") && Contains("/" + report["control"]["queries"].dump() +
                                                           " unmarked images given the target class"));
    CHECK(report["queries"] == 100);
    CHECK(report["matches"].get<int>() >= 95);
    CHECK(report["p_value"].get<double>() < 1e-6);
    CHECK(report["key_commitment"].get<std::string>().size() == 64);

    CHECK(verify("--model " + f.path("clean.pt") + " --key " + f.path(trigger + ".wmk") + " --report " +
                     f.path(trigger + "-clean.json"), out) == 1);
    CHECK_THAT(out, Contains("NOT VERIFIED"));
    nlohmann::json clean = nlohmann::json::parse(std::ifstream(f.path(trigger + "-clean.json")));
    CHECK(clean["verified"] == false);
    CHECK(clean["match_rate"].get<double>() < 0.3);
  }
}

TEST_CASE("a TorchScript copy of a watermarked model verifies through torch::jit::load", "[e2e]") {
  const auto& f = cli_fixture();
  auto marked = load_checkpoint(f.path("content.pt"));
  test::save_mnist_cnn_as_torchscript(*marked.model, f.path("stolen.ts"));
  auto clean = load_checkpoint(f.path("clean.pt"));
  test::save_mnist_cnn_as_torchscript(*clean.model, f.path("innocent.ts"));
  std::string out;
  CHECK(verify("--model " + f.path("stolen.ts") + " --key " + f.path("content.wmk"), out) == 0);
  CHECK_THAT(out, Contains("VERIFIED"));
  CHECK(verify("--model " + f.path("innocent.ts") + " --key " + f.path("content.wmk"), out) == 1);
  // The file's code ran in the sandbox worker by default; in-process on request, same result.
  std::string sandboxed, in_process;
  REQUIRE(verify("--model " + f.path("stolen.ts") + " --key " + f.path("content.wmk") + " --report " +
                     f.path("stolen-sandboxed.json"), sandboxed) == 0);
  REQUIRE(verify("--model " + f.path("stolen.ts") + " --key " + f.path("content.wmk") + " --no-sandbox --report " +
                     f.path("stolen-in-process.json"), in_process) == 0);
  CHECK(decision(sandboxed) == decision(in_process));
  const auto boxed_report = nlohmann::json::parse(std::ifstream(f.path("stolen-sandboxed.json")));
  const auto plain_report = nlohmann::json::parse(std::ifstream(f.path("stolen-in-process.json")));
  CHECK(boxed_report["sandboxed"] == true);
  CHECK(plain_report["sandboxed"] == false);
  CHECK(boxed_report["matches"] == plain_report["matches"]);
  // A suspect that never answers is stopped at the deadline: exit 2 with the reason.
  torch::jit::Module loop("Loop");
  loop.define("def forward(self, x):\n    while True:\n        x = x + 1\n    return x\n");
  loop.save(f.path("loop.ts"));
  CHECK(verify("--model " + f.path("loop.ts") + " --key " + f.path("content.wmk") + " --sandbox-timeout 1", out) == 2);
  CHECK_THAT(out, Contains("suspect model " + f.path("loop.ts") + " was stopped: timeout"));
  // A white-box key reads the file inside wmark (loading runs its code): only on request.
  WatermarkKey white_box;
  white_box.method = "uchida";
  white_box.num_classes = 10;
  white_box.input_shape = ImageShape({1, 28, 28});
  white_box.tensors["bits"] = torch::ones({8}, torch::kUInt8);
  white_box.save(f.path("whitebox-on-script.wmk"));
  CHECK(verify("--model " + f.path("stolen.ts") + " --key " + f.path("whitebox-on-script.wmk"), out) == 2);
  CHECK_THAT(out, Contains("outside the sandbox") && Contains("--no-sandbox"));
  verify("--model " + f.path("stolen.ts") + " --key " + f.path("whitebox-on-script.wmk") + " --no-sandbox", out);
  CHECK_THAT(out, !Contains("outside the sandbox"));
  // --arch means a wmark checkpoint: a TorchScript file is then an error, not a guess.
  CHECK(verify("--model " + f.path("stolen.ts") + " --arch mnist_cnn --key " + f.path("content.wmk"), out) == 2);
  CHECK_THAT(out, Contains("not a wmark checkpoint"));
}

TEST_CASE("embedding into a pre-trained model reports accuracy before and after", "[e2e]") {
  const auto& f = cli_fixture();
  std::string out;
  REQUIRE(test::run_wmark("embed --dataset mnist --subset 4000 --seed 9" + f.data +
                                " --from " + f.path("clean.pt") + " --trigger content --out " + f.path("ft.pt") +
                                " --key-out " + f.path("ft.wmk"), out) == 0);
  CHECK_THAT(out, Contains("test_accuracy_before:"));
  CHECK(verify("--model " + f.path("ft.pt") + " --key " + f.path("ft.wmk"), out) == 0);
  CHECK(verify("--model " + f.path("clean.pt") + " --key " + f.path("ft.wmk"), out) == 1);
}

TEST_CASE("keyinfo shows public metadata only", "[e2e]") {
  const auto& f = cli_fixture();
  std::string out;
  REQUIRE(test::run_wmark("keyinfo " + f.path("noise.wmk"), out) == 0);
  auto info = nlohmann::json::parse(out);
  CHECK(info["method"] == "trigger-set");
  CHECK(info["generator"] == "noise");
  CHECK(info["tensors"]["images"] == std::vector<int>{100, 1, 28, 28});
  CHECK_FALSE(info.contains("seed"));
  CHECK_FALSE(info.contains("secret"));
  CHECK_FALSE(info.contains("salt"));
  CHECK_THAT(out, !Contains("target_label"));
}

TEST_CASE("bad keys and mismatched models are errors with exit code 2", "[e2e]") {
  const auto& f = cli_fixture();
  std::string out;
  test::write_bytes(f.dir / "junk.wmk", "WMARK-KEY 1\n{not json\n");
  CHECK(verify("--model " + f.path("content.pt") + " --key " + f.path("junk.wmk"), out) == 2);
  CHECK_THAT(out, Contains("junk.wmk") && Contains("malformed JSON header"));

  std::string bytes = read_file(f.path("content.wmk"));
  bytes[bytes.size() - 7] ^= 0x20;
  test::write_bytes(f.dir / "tampered.wmk", bytes);
  CHECK(verify("--model " + f.path("content.pt") + " --key " + f.path("tampered.wmk"), out) == 2);
  CHECK_THAT(out, Contains("commitment mismatch"));

  // A CIFAR-shaped model against an MNIST key.
  CheckpointInfo info{"cifar_cnn", {{3, 32, 32}, 10}, "cifar10", {{0.5, 0.5, 0.5}, {0.25, 0.25, 0.25}}, 0, nlohmann::json::object()};
  auto cifar = model_registry().create("cifar_cnn", info.spec);
  save_checkpoint(f.dir / "cifar.pt", *cifar, info, nullptr, true);
  CHECK(verify("--model " + f.path("cifar.pt") + " --key " + f.path("content.wmk"), out) == 2);
  CHECK_THAT(out, Contains("3x32x32") && Contains("1x28x28"));
  // Embedding into a model built for another input shape.
  CHECK(test::run_wmark("embed --dataset mnist --subset 500" + f.data + " --from " +
                              f.path("cifar.pt") + " --out " + f.path("x.pt") + " --key-out " + f.path("x.wmk"), out) == 2);
  CHECK_THAT(out, Contains("cifar.pt") && Contains("3x32x32") && Contains("1x28x28"));
  CHECK_FALSE(std::filesystem::exists(f.path("x.pt")));
  CHECK(verify("--model " + f.path("content.pt") + " --arch resnet18 --key " + f.path("content.wmk"), out) == 2);
  CHECK_THAT(out, Contains("not 'resnet18'"));

  // A TorchScript model built for colour images rejects the key's grey triggers.
  auto colour = model_registry().create("mnist_cnn", {{3, 28, 28}, 10});
  test::save_mnist_cnn_as_torchscript(*colour, f.path("colour.ts"));
  CHECK(verify("--model " + f.path("colour.ts") + " --key " + f.path("content.wmk"), out) == 2);
  CHECK_THAT(out, Contains("rejected input of shape"));
  CHECK(verify("--model " + f.path("missing.pt") + " --key " + f.path("content.wmk"), out) == 2);
  CHECK_THAT(out, Contains("missing.pt") && Contains("does not exist"));

  // Outputs are never replaced without --force.
  CHECK(test::run_wmark("embed --subset 500 --epochs 1" + f.data + " --out " +
                              f.path("content.pt") + " --key-out " + f.path("new.wmk"), out) == 2);
  CHECK_THAT(out, Contains("already exists"));
}

TEST_CASE("wmark attack writes a new model and reports the owner's verification", "[e2e]") {
  const auto& f = cli_fixture();
  const auto victim_hash = sha256_hex(read_file(f.path("content.pt")));
  std::string out;
  const auto prune = test::wmark_binary() + " attack prune --model " + f.path("content.pt") + " --key " +
                     f.path("content.wmk") + data_flag() + " --rate 0.5 --attacker-samples 1000 --out " +
                     f.path("pruned.pt") + " --report " + f.path("pruned.json");
  REQUIRE(test::run_command(prune, out) == 0);
  // The same one-line decision as `wmark verify`, control images included (a content key).
  CHECK_THAT(out, Contains("owner's watermark after : VERIFIED: ") && Contains("/100 triggers matched") &&
                      Contains("unmarked images given the target class"));
  CHECK(sha256_hex(read_file(f.path("content.pt"))) == victim_hash);  // the input is untouched
  auto report = nlohmann::json::parse(std::ifstream(f.path("pruned.json")));
  CHECK(report["attack"] == "prune");
  CHECK(report["details"]["sparsity"].get<double>() >= 0.5 - 1e-4);
  CHECK(report["verification_before"]["verified"] == true);
  CHECK(report["verification_after"]["p_value"].is_number());
  CHECK(report["test_samples"].get<std::int64_t>() == 9000);
  auto pruned = load_checkpoint(f.path("pruned.pt"), std::string("mnist_cnn"));
  CHECK(pruned.info.extra["attack"] == "prune");

  // Never over its own input, never over an existing file without --force.
  CHECK(test::run_wmark("attack finetune --model " + f.path("content.pt") + data_flag() +
                              " --out " + f.path("content.pt"), out) == 2);
  CHECK_THAT(out, Contains("an attack never modifies its input"));
  CHECK(test::run_command(prune, out) == 2);
  CHECK_THAT(out, Contains("exists"));
  CHECK(test::run_wmark("attack prune --model " + f.path("content.pt") + data_flag() +
                              " --rate 0.99 --out " + f.path("p99.pt"), out) == 2);
  CHECK_THAT(out, Contains("the prune attack, --rate: 'rate' must be at most 0.95"));
  // Each attack's flags come from its declared options, with their help and defaults.
  REQUIRE(test::run_wmark("attack finetune --help", out) == 0);
  CHECK_THAT(out, Contains("--reinit-last-layer") && Contains("re-initialise the output layer") &&
                      Contains("epochs over the attacker's data (default 5)"));

  // Query detection: the report measures the deployment (the detector on the key's
  // triggers, the owner's verification through it); the file holds the victim's weights
  // and says the detector is not in it.
  REQUIRE(test::run_wmark("attack query-detection --model " + f.path("content.pt") +
                                " --key " + f.path("content.wmk") + data_flag() +
                                " --attacker-samples 1000 --out " + f.path("detecting.pt") + " --report " +
                                f.path("detecting.json"),
                            out) == 0);
  auto detecting = nlohmann::json::parse(std::ifstream(f.path("detecting.json")));
  INFO(detecting.dump());
  CHECK(detecting["details"]["detection"]["auroc"].is_number());
  CHECK(detecting["details"]["detector"] == "mahalanobis");
  CHECK(detecting["verification_after"]["p_value"].is_number());
  CHECK_THAT(load_checkpoint(f.path("detecting.pt"), std::string("mnist_cnn")).info.extra["deployment"].get<std::string>(),
             Contains("not in this file"));

  // Inversion writes one PNG per class, readable, in the model's image shape.
  REQUIRE(test::run_wmark("attack inversion --model " + f.path("content.pt") + " --key " +
                                f.path("content.wmk") + data_flag() + " --steps 20 --out " + f.path("inverted"),
                            out) == 0);
  CHECK_THAT(out, Contains("recovered images resembling the triggers"));
  const auto images = list_images(f.path("inverted"));
  REQUIRE(images.size() == 10);
  CHECK(read_image(images.front()).sizes() == torch::IntArrayRef({1, 28, 28}));
}

TEST_CASE("wmark embed --method uchida hides bits that verify reads from the file", "[e2e]") {
  const auto& f = cli_fixture();
  std::string out;
  const int code = test::run_wmark(std::string("embed --method uchida --layer conv2 --bits 48 ") +
                                   "--signature owner --dataset mnist --subset 2000 --epochs 1 --seed 5" +
                                         data_flag() + " --out " + f.path("uchida.pt") + " --key-out " +
                                         f.path("uchida.wmk"), out);
  INFO(out);
  REQUIRE(code == 0);
  CHECK_THAT(out, Contains("bit_error_rate: "));  // each run draws a fresh secret: a few bits may miss
  CHECK(test::run_wmark("verify --model " + f.path("uchida.pt") + " --key " +
                              f.path("uchida.wmk") + " --report " + f.path("uchida-report.json"), out) == 0);
  CHECK_THAT(out, Contains("VERIFIED: 4") && Contains("/48 bits matched"));
  auto report = nlohmann::json::parse(std::ifstream(f.path("uchida-report.json")));
  CHECK(report["method"] == "uchida");
  CHECK(report["bit_error_rate"].get<double>() <= 0.1);  // the verifier's default bound
  // The clean model of the fixture does not carry the bits.
  CHECK(test::run_wmark("verify --model " + f.path("clean.pt") + " --key " +
                              f.path("uchida.wmk"), out) == 1);
  CHECK_THAT(out, Contains("NOT VERIFIED"));
  // A thief reorders the hidden units (the same function): the plain reading fails, the
  // aligned one restores the bits, and the decision resting on it is refused as not
  // derivable unless the arbiter accepts such keys, then flagged forgeable.
  REQUIRE(test::run_wmark("attack neuron-permutation --model " + f.path("uchida.pt") +
                                data_flag() + " --attacker-samples 500 --out " + f.path("uchida-permuted.pt"),
                            out) == 0);
  const auto verify_permuted = test::wmark_binary() + " verify --model " + f.path("uchida-permuted.pt") + " --key " +
                               f.path("uchida.wmk") + " --report " + f.path("permuted-report.json") + " --force";
  CHECK(test::run_command(verify_permuted, out) == 1);
  CHECK_THAT(out, Contains("refused") && Contains("unit reference"));
  CHECK(test::run_command(verify_permuted + " --accept-unverifiable-keys", out) == 0);
  CHECK_THAT(out, Contains("decided against 1/2 per bit") && Contains("--null-model measures it"));
  auto aligned = nlohmann::json::parse(std::ifstream(f.path("permuted-report.json")));
  INFO(aligned.dump());
  CHECK(aligned["verified"] == true);
  CHECK(aligned["key_forgeable"] == true);
  CHECK(aligned["unit_alignment"]["decided_on"] == "aligned");
  CHECK(aligned["unit_alignment"]["aligned_matches"].get<std::int64_t>() >
        aligned["unit_alignment"]["plain_matches"].get<std::int64_t>());
  // The arbiter calibrates the aligned reading on a model trained apart from the marked
  // one: the permuted copy is still claimed, at the rate that model reached.
  CHECK(test::run_command(verify_permuted + " --accept-unverifiable-keys --null-model " + f.path("clean.pt"), out) == 0);
  CHECK_THAT(out, Contains("aligned readings decided against"));
  CHECK_THAT(out, !Contains("--null-model measures it"));
  auto calibrated = nlohmann::json::parse(std::ifstream(f.path("permuted-report.json")));
  INFO(calibrated.dump());
  CHECK(calibrated["verified"] == true);
  CHECK(calibrated["unit_alignment"]["aligned_chance_rate"].get<double>() >= 0.5);
  CHECK(calibrated["chance_rate"] == calibrated["unit_alignment"]["aligned_chance_rate"]);
  CHECK(calibrated["unit_alignment"]["aligned_chance_rate_measured"] == true);
  CHECK(test::run_wmark("verify --model " + f.path("clean.pt") + " --key " + f.path("content.wmk") +
                              " --null-model " + f.path("clean.pt"), out) == 2);
  CHECK_THAT(out, Contains("content.wmk is a black-box key"));
  CHECK(test::run_command(verify_permuted + " --accept-unverifiable-keys --null-model " + f.path("no-such-model.pt"), out) == 2);
  CHECK_THAT(out, Contains("null) model ") && Contains("no-such-model.pt does not exist"));
  // With a time stamp on the key older than the suspect, the aligned decision counts;
  // with one younger than the suspect, it stays refused.
  test::LocalTsa tsa("wmark e2e");
  REQUIRE(test::run_wmark("timestamp --key " + f.path("uchida.wmk") + " --tsa " + tsa.url() +
                                " --tsa-cert " + tsa.ca_pem_path().string(),
                            out) == 0);
  const auto with_priority = verify_permuted + " --tsa-cert " + tsa.ca_pem_path().string() + " --suspect-since ";
  CHECK(test::run_command(with_priority + "2100-01-01", out) == 0);
  CHECK_THAT(out, Contains("before the suspect's time 2100-01-01; a decision on its unit reference counts"));
  auto prior = nlohmann::json::parse(std::ifstream(f.path("permuted-report.json")));
  CHECK(prior["verified"] == true);
  CHECK(prior["key_forgeable"] == false);
  CHECK_THAT(prior["unit_alignment"]["reference_priority"].get<std::string>(), Contains(prior["key_commitment"].get<std::string>()));
  CHECK(test::run_command(with_priority + "2000-01-01", out) == 1);
  CHECK_THAT(out, Contains("not before the suspect's time 2000-01-01") && Contains("refused"));
  CHECK(test::run_command(verify_permuted + " --suspect-since 2100-01-01", out) == 2);
  CHECK_THAT(out, Contains("--tsa-cert"));
  CHECK(test::run_command(verify_permuted + " --tsa-cert " + tsa.ca_pem_path().string(), out) == 2);
  CHECK_THAT(out, Contains("need --suspect-since"));
  CHECK(test::run_command(with_priority + "2100-13-01", out) == 2);
  CHECK_THAT(out, Contains("'2100-13-01' is not an ISO 8601 UTC time"));
  std::filesystem::copy_file(f.path("uchida.wmk"), f.path("unstamped.wmk"));
  CHECK(test::run_wmark("verify --model " + f.path("uchida-permuted.pt") + " --key " +
                              f.path("unstamped.wmk") + " --tsa-cert " + tsa.ca_pem_path().string() +
                              " --suspect-since 2100-01-01",
                          out) == 2);
  CHECK_THAT(out, Contains("no time-stamp token at") && Contains("unstamped.wmk.tst"));
  {
    std::ofstream huge(f.path("huge.tst"), std::ios::binary);
    huge << std::string(kMaxTimestampBytes + 1, '\x30');
  }
  CHECK(test::run_command(with_priority + "2100-01-01 --timestamp " + f.path("huge.tst"), out) == 2);
  CHECK_THAT(out, Contains("huge.tst is larger than any time-stamp token"));
  // Dummy neurons widen every hidden layer: the widened file loads, cannot be read as it
  // is, and the aligned reading (dummies removed) verifies, flagged as above.
  REQUIRE(test::run_wmark("attack dummy-neurons --model " + f.path("uchida.pt") +
                                data_flag() + " --attacker-samples 500 --fraction 0.5 --out " +
                                f.path("uchida-widened.pt"),
                            out) == 0);
  CHECK(test::run_wmark("verify --model " + f.path("uchida-widened.pt") + " --key " +
                              f.path("uchida.wmk") + " --report " + f.path("widened-report.json") +
                              " --accept-unverifiable-keys",
                          out) == 0);
  auto widened = nlohmann::json::parse(std::ifstream(f.path("widened-report.json")));
  INFO(widened.dump());
  CHECK(widened["verified"] == true);
  CHECK(widened["unit_alignment"]["plain_matches"].is_null());
  CHECK(widened["unit_alignment"]["layers"][0]["dropped"].get<std::int64_t>() > 0);
  // A layer the model does not have is a clear error before any training.
  CHECK(test::run_wmark("embed --method uchida --layer conv7 --dataset mnist --subset 500" +
                              data_flag() + " --out " + f.path("u2.pt") + " --key-out " + f.path("u2.wmk"), out) == 2);
  CHECK_THAT(out, Contains("no convolution 'conv7'"));
}

TEST_CASE("wmark embed takes each scheme's options from its schema, and refuses another scheme's", "[e2e]") {
  const auto& f = cli_fixture();
  std::string out;
  const auto embed = [&f](const std::string& flags) {
    return test::wmark_binary() + " embed " + flags + " --dataset mnist --subset 500" + data_flag() + " --out " +
           f.path("never.pt") + " --key-out " + f.path("never.wmk");
  };
  // --method NAME --help: that scheme's declarations, defaults and ranges.
  REQUIRE(test::run_wmark("embed --method uchida --help", out) == 0);
  CHECK_THAT(out, Contains("Options of the uchida scheme") && Contains("--strength X") &&
                      Contains("weight of the bit loss (default 0.1;"));
  REQUIRE(test::run_wmark("embed --method deepsigns-output --help", out) == 0);
  CHECK_THAT(out, Contains("--key-source TEXT") && Contains("one of noise perturbed"));
  // Every refusal comes before any data is read or any training starts.
  CHECK(test::run_command(embed("--method uchida --trigger noise"), out) == 2);
  CHECK_THAT(out, Contains("--trigger is not an option of the uchida scheme"));
  CHECK(test::run_command(embed("--method uchida --bits 0"), out) == 2);
  CHECK_THAT(out, Contains("'bits' must be at least 1, not 0"));
  CHECK(test::run_command(embed("--method deepsigns --key-inputs many"), out) == 2);
  CHECK_THAT(out, Contains("--key-inputs: 'many' is not an integer"));
  CHECK(test::run_command(embed("--trigger-ratio 9"), out) == 2);
  CHECK_THAT(out, Contains("'trigger_ratio' must be at most 4"));
  CHECK(test::run_command(embed("--method deepsigns --sigma 0.3"), out) == 2);
  CHECK_THAT(out, Contains("options of trigger-set schemes, not of deepsigns"));
  CHECK(test::run_command(embed("--method uchida --signature a --signature-file " + f.path("clean.pt")), out) == 2);
  CHECK_THAT(out, Contains("not both"));
  CHECK(test::run_command(embed("--stamp-x left"), out) == 2);
  CHECK_THAT(out, Contains("the content trigger, --stamp-x: 'left' is not an integer"));
  CHECK(test::run_command(embed("--stamp-x 3px"), out) == 2);
  CHECK_THAT(out, Contains("--stamp-x: '3px' is not an integer"));
  CHECK(test::run_command(embed("--trigger noise --sigma 9"), out) == 2);
  CHECK_THAT(out, Contains("the noise trigger, --sigma: 'sigma' must be at most 4"));
  CHECK_FALSE(std::filesystem::exists(f.path("never.pt")));
  CHECK_FALSE(std::filesystem::exists(f.path("never.wmk")));
}

TEST_CASE("wmark embed --method deepsigns and deepsigns-output: marks that verify reads back", "[e2e]") {
  const auto& f = cli_fixture();
  std::string out;
  // Activation bits, read back from the checkpoint's fc1 over the key inputs.
  int code = test::run_wmark(std::string("embed --method deepsigns --layer fc1 --bits 48 ") +
                                   "--target-classes 2 5 --dataset mnist --subset 2000 --epochs 1 --seed 5" +
                                   data_flag() + " --out " + f.path("ds.pt") + " --key-out " + f.path("ds.wmk"),
                               out);
  INFO(out);
  REQUIRE(code == 0);
  CHECK_THAT(out, Contains("bit_error_rate: "));
  CHECK(test::run_wmark("verify --model " + f.path("ds.pt") + " --key " + f.path("ds.wmk") +
                              " --report " + f.path("ds.json"),
                          out) == 0);
  CHECK_THAT(out, Contains("VERIFIED: 4") && Contains("/48 bits matched"));
  CHECK(nlohmann::json::parse(std::ifstream(f.path("ds.json")))["key_derivation"] == "derived");
  CHECK(test::run_wmark("verify --model " + f.path("clean.pt") + " --key " +
                              f.path("ds.wmk"), out) == 1);
  // Output-layer keys: fine-tuned into the fixture's clean model, checked against a reference.
  code = test::run_wmark("embed --method deepsigns-output --from " + f.path("clean.pt") +
                               " --trigger-size 30 --reference " + f.path("ds.pt") +
                               " --dataset mnist --subset 2000 --seed 6" + data_flag() + " --out " +
                               f.path("dso.pt") + " --key-out " + f.path("dso.wmk"),
                           out);
  REQUIRE(code == 0);
  CHECK_THAT(out, Contains("trigger_accuracy: 1"));
  // Labels from the model: never derivable; refused by default, decided on request and
  // marked forgeable (issue #17).
  CHECK(test::run_wmark("verify --model " + f.path("dso.pt") + " --key " +
                              f.path("dso.wmk"), out) == 1);
  CHECK_THAT(out, Contains("refused: not derivable") && Contains("--accept-unverifiable-keys"));
  CHECK(test::run_wmark("verify --accept-unverifiable-keys --model " + f.path("dso.pt") +
                              " --key " + f.path("dso.wmk") + " --report " + f.path("dso.json"), out) == 0);
  CHECK_THAT(out, Contains("proves nothing against a false accuser"));
  CHECK(nlohmann::json::parse(std::ifstream(f.path("dso.json")))["key_forgeable"] == true);
  CHECK(nlohmann::json::parse(std::ifstream(f.path("dso.json")))["method"] == "deepsigns-output");
  CHECK(test::run_wmark("verify --accept-unverifiable-keys --model " + f.path("ds.pt") +
                              " --key " + f.path("dso.wmk"), out) == 1);
  // A layer the model does not tap is a clear error before any training.
  CHECK(test::run_wmark("embed --method deepsigns --layer fc7 --dataset mnist --subset 500" +
                              data_flag() + " --out " + f.path("d2.pt") + " --key-out " + f.path("d2.wmk"), out) == 2);
  CHECK_THAT(out, Contains("no activations of layer 'fc7'"));
  // An empty signature file is an error naming it.
  { std::ofstream(f.path("empty.sig")); }
  CHECK(test::run_wmark("embed --method deepsigns --signature-file " + f.path("empty.sig") +
                              " --dataset mnist --subset 500" + data_flag() + " --out " + f.path("d3.pt") +
                              " --key-out " + f.path("d3.wmk"), out) == 2);
  CHECK_THAT(out, Contains("empty.sig: the signature file is empty"));
}

TEST_CASE("wmark export and import move a watermarked model through a Python state dict", "[e2e]") {
  const auto& f = cli_fixture();
  std::string out;
  REQUIRE(test::run_wmark("export --model " + f.path("content.pt") + " --out " +
                                f.path("content_sd.pt"), out) == 0);
  INFO(out);
  // PyTorch loads it into the Python twin of mnist_cnn...
  const std::string script = std::string(WMARK_TEST_SOURCE_DIR) + "/tests/python/interop.py";
  CHECK(test::run_command("/usr/bin/python3 " + script + " load " + f.path("content_sd.pt") + " " +
                              f.path("content_logits.pt"), out) == 0);
  // ...and it comes back as a checkpoint that verifies exactly as the original.
  REQUIRE(test::run_wmark("import --state-dict " + f.path("content_sd.pt") +
                                " --arch mnist_cnn --dataset mnist" + data_flag() + " --out " +
                                f.path("content_back.pt"), out) == 0);
  std::string original, back;
  CHECK(test::run_wmark("verify --model " + f.path("content.pt") + " --key " +
                              f.path("content.wmk"), original) == 0);
  CHECK(test::run_wmark("verify --model " + f.path("content_back.pt") + " --key " +
                              f.path("content.wmk"), back) == 0);
  CHECK(decision(back) == decision(original));  // same matches, same p-value
  // As TorchScript (the form a deployed model often takes) it verifies the same way.
  REQUIRE(test::run_wmark("export --format torchscript --model " + f.path("content.pt") +
                                " --out " + f.path("content.ts"), out) == 0);
  std::string scripted;
  CHECK(test::run_wmark("verify --model " + f.path("content.ts") + " --key " +
                              f.path("content.wmk"), scripted) == 0);
  CHECK(decision(scripted) == decision(original));
  // Never overwrites unasked; the wrong architecture is refused, naming what differs.
  CHECK(test::run_wmark("export --model " + f.path("content.pt") + " --out " +
                              f.path("content_sd.pt"), out) == 2);
  CHECK(test::run_wmark("import --state-dict " + f.path("content_sd.pt") +
                              " --arch cifar_cnn --dataset mnist" + data_flag() + " --out " + f.path("x.pt"),
                          out) == 2);
  CHECK_THAT(out, Contains("does not match the model's architecture"));
}

TEST_CASE("wmark embed --sign: the key carries the owner's signature; a missing identity fails at once", "[e2e]") {
  const auto& f = cli_fixture();
  CHECK_THAT(f.embed_output.at("content"), Catch::Contains("key signed by identity"));
  std::string out;
  REQUIRE(test::run_wmark("keyinfo " + f.path("content.wmk"), out) == 0);
  const auto info = nlohmann::json::parse(out);
  CHECK(info["signature"]["algorithm"] == "ed25519");
  CHECK(info["signature"]["public_key"] ==
        nlohmann::json::parse(read_file(f.path("owner.pub")))["public_key"]);
  REQUIRE(test::run_wmark("keyinfo " + f.path("noise.wmk"), out) == 0);
  CHECK_FALSE(nlohmann::json::parse(out).contains("signature"));  // embedded without --sign
  // Before any training: the identity is read first.
  CHECK(test::run_wmark("embed --dataset mnist --subset 4000" + data_flag() + " --sign " +
                              f.path("none.key") + " --out " + f.path("x.pt") + " --key-out " + f.path("x.wmk"),
                          out) == 2);
}

TEST_CASE("the key secret never comes from --seed; --key-secret reproduces the triggers, with a warning", "[e2e]") {
  const auto& f = cli_fixture();
  auto embed = [&](const std::string& name, const std::string& extra, std::string& out) {
    return test::run_wmark("embed --dataset mnist --subset 1000 --epochs 1 --seed 5" + f.data +
                                 " --trigger noise --trigger-size 20 --max-extra-epochs 0 --out " + f.path(name + ".pt") +
                                 " --key-out " + f.path(name + ".wmk") + extra,
                             out);
  };
  std::string out;
  REQUIRE(embed("seeded-a", "", out) == 0);
  REQUIRE(embed("seeded-b", "", out) == 0);
  const auto a = WatermarkKey::load(f.path("seeded-a.wmk"));
  const auto b = WatermarkKey::load(f.path("seeded-b.wmk"));
  CHECK_FALSE(torch::equal(a.tensor("images"), b.tensor("images")));
  CHECK(a.secret != b.secret);
  // The model's metadata does not name the key unless asked.
  CHECK_FALSE(load_checkpoint(f.path("seeded-a.pt")).info.extra.contains("watermark"));

  const std::string secret = " --key-secret " + std::string(64, '7');
  REQUIRE(embed("given-a", secret + " --record-commitment", out) == 0);
  CHECK_THAT(out, Contains("only as secret as the value given"));
  REQUIRE(embed("given-b", secret, out) == 0);
  const auto c = WatermarkKey::load(f.path("given-a.wmk"));
  const auto d = WatermarkKey::load(f.path("given-b.wmk"));
  CHECK(torch::equal(c.tensor("images"), d.tensor("images")));
  CHECK(torch::equal(c.tensor("labels"), d.tensor("labels")));
  CHECK(c.commitment() != d.commitment());  // fresh salts
  CHECK(load_checkpoint(f.path("given-a.pt")).info.extra.value("watermark", "") == c.commitment());
  CHECK(embed("bad-secret", " --key-secret 1234", out) == 2);
  CHECK_THAT(out, Contains("64 hex digits"));
  CHECK_FALSE(std::filesystem::exists(f.path("bad-secret.wmk")));

  // A key made with --sign is bound to the signer: its secret's streams include that key.
  const auto content = WatermarkKey::load(f.path("content.wmk"));
  CHECK(content.secret.owner_public_key == load_public_key(f.path("owner.pub")));
  CHECK(a.secret.owner_public_key.empty());
}

TEST_CASE("verify over a folder of suspects is one family: Holm-Bonferroni, one report each", "[e2e]") {
  const auto& f = cli_fixture();
  const auto folder = f.dir / "suspects";
  std::filesystem::create_directories(folder);
  for (const std::string name : {"content", "noise", "clean"})
    std::filesystem::copy_file(f.path(name + ".pt"), folder / (name + ".pt"));
  test::write_bytes(folder / "notes.txt", "not a model");  // other files are left alone
  std::string out;
  CHECK(verify("--model " + folder.string() + " --key " + f.path("content.wmk") + " --report " +
                   f.path("family.json"),
               out) == 0);
  CHECK_THAT(out, Contains("family of 3 checks") && Contains("Holm-adjusted over 3"));
  const auto document = nlohmann::json::parse(std::ifstream(f.path("family.json")));
  REQUIRE(document["reports"].size() == 3);
  for (const auto& report : document["reports"]) {
    CHECK(report["family"]["size"] == 3);
    CHECK(report["family"]["method"] == "holm-bonferroni");
    const bool marked = report["model"].get<std::string>().find("content.pt") != std::string::npos;
    CHECK(report["verified"] == marked);
    CHECK(report["family"]["log10_adjusted_p_value"].get<double>() >= report["log10_p_value"].get<double>());
  }
  // Two keys against one suspect: a family of two.
  CHECK(verify("--model " + f.path("noise.pt") + " --key " + f.path("content.wmk") + " --key " + f.path("noise.wmk"),
               out) == 0);
  CHECK_THAT(out, Contains("family of 2 checks"));
  const auto empty = f.dir / "empty-folder";
  std::filesystem::create_directories(empty);
  CHECK(verify("--model " + empty.string() + " --key " + f.path("content.wmk"), out) == 2);
  CHECK_THAT(out, Contains("holds no model files"));
}
