// verify_suspect_file / verify_remote_suspect: the library's `wmark verify`. A file is
// opened by what its bytes are, TorchScript runs in the sandbox, a white-box key is never
// read out of a TorchScript file inside wmark unless asked, and the report names the bytes.
#include <catch2/catch.hpp>

#include <cmath>
#include <fstream>

#include "../support/test_support.h"
#include "../support/torchscript_fixture.h"
#include "../support/watermarked_fixture.h"
#include "wmark/data/subset.h"
#include "wmark/models/checkpoint.h"
#include "wmark/models/registry.h"
#include "wmark/util/error.h"
#include "wmark/util/files.h"
#include "wmark/util/sha256.h"
#include "wmark/verify/suspect.h"
#include "wmark/watermark/whitebox/uchida.h"

using namespace wmark;
using Catch::Matchers::Contains;

namespace {

SuspectFileOptions sandboxed() {
  return SuspectFileOptions().sandbox_options(SandboxOptions().worker_path(test::wmark_binary()));
}

void save_mnist_checkpoint(Network& model, const std::filesystem::path& path) {
  const auto& f = test::watermarked_mnist();
  save_checkpoint(path, model, {"mnist_cnn", {f.key.input_shape, f.key.num_classes}, "mnist", f.key.normalization, 0,
                                nlohmann::json::object()});
}

}  // namespace

TEST_CASE("a suspect file is verified by what its bytes are, and the report names those bytes", "[verify]") {
  const auto& f = test::watermarked_mnist();
  test::TempDir dir;
  save_mnist_checkpoint(*f.model, dir / "marked.pt");
  save_mnist_checkpoint(*test::clean_mnist(), dir / "clean.pt");
  test::save_mnist_cnn_as_torchscript(*f.model, dir / "marked.ts");
  const Verifier verifier;

  const auto checkpoint = verify_suspect_file(dir / "marked.pt", f.key, verifier, sandboxed());
  CHECK(checkpoint.report.verified);
  CHECK_FALSE(checkpoint.sandboxed);  // a checkpoint carries no code: read in process
  CHECK(checkpoint.report.model_sha256 == sha256_hex(read_file(dir / "marked.pt")));
  CHECK(checkpoint.to_json().at("sandboxed") == false);
  CHECK_FALSE(checkpoint.to_json().contains("remote"));

  const auto clean = verify_suspect_file(dir / "clean.pt", f.key, verifier, sandboxed());
  CHECK_FALSE(clean.report.verified);

  // TorchScript runs its own code: in the worker, with the same decision.
  const auto script = verify_suspect_file(dir / "marked.ts", f.key, verifier, sandboxed());
  CHECK(script.sandboxed);
  CHECK(script.report.verified);
  CHECK(script.report.matches == checkpoint.report.matches);
  // A TorchScript file named like a checkpoint is still TorchScript.
  std::filesystem::copy_file(dir / "marked.ts", dir / "disguised.pt");
  CHECK(verify_suspect_file(dir / "disguised.pt", f.key, verifier, sandboxed()).sandboxed);
  // The sandbox worker runs on the CPU only; another device needs the sandbox off.
  CHECK_THROWS_WITH(verify_suspect_file(dir / "marked.ts", f.key, verifier, sandboxed().device(c10::Device("cuda:0"))),
                    Contains("runs the suspect") && Contains("on the CPU"));
  CHECK_THROWS_WITH(verify_suspect_file(dir / "missing.pt", f.key, verifier, sandboxed()),
                    Contains("missing.pt") && Contains("does not exist"));
  CHECK_THROWS_WITH(verify_suspect_file(dir.path(), f.key, verifier, sandboxed()), Contains("is not a file"));
}

TEST_CASE("several suspects against several keys are one family: each claim survives Holm's adjustment or falls",
          "[verify]") {
  const auto& f = test::watermarked_mnist();
  test::TempDir dir;
  save_mnist_checkpoint(*f.model, dir / "marked.pt");
  save_mnist_checkpoint(*test::clean_mnist(), dir / "clean.pt");
  const std::vector<NamedKey> keys{{f.key, Verifier(), "a.wmk"}, {f.key, Verifier(), "b.wmk"}};

  const auto checks = verify_suspects({dir / "marked.pt", dir / "clean.pt"}, keys, sandboxed());
  REQUIRE(checks.size() == 4);  // suspect by suspect, each against every key
  CHECK(checks[0].suspect == (dir / "marked.pt").string());
  CHECK(checks[3].suspect == (dir / "clean.pt").string());
  CHECK(checks[0].key == "a.wmk");
  CHECK(checks[1].key == "b.wmk");
  for (const auto& check : checks) CHECK(check.report.family_size == 4);
  // The two equal p-values of the marked suspect are the smallest: Holm multiplies them by 4.
  const auto alone = verify_suspect_file(dir / "marked.pt", f.key, Verifier(), sandboxed());
  REQUIRE(std::isfinite(alone.report.log10_p_value));
  CHECK(checks[0].report.log10_p_value == Approx(alone.report.log10_p_value));
  CHECK(checks[0].report.family_log10_p_value == Approx(alone.report.log10_p_value + std::log10(4.0)));
  CHECK(checks[0].report.verified);
  CHECK(checks[1].report.verified);
  CHECK_FALSE(checks[2].report.verified);
  CHECK_FALSE(checks[3].report.verified);

  // A threshold the marked suspect passes alone but not as one of four is not met.
  const double threshold = std::pow(10.0, alone.report.log10_p_value + std::log10(2.0));
  const auto strict = VerifierOptions().p_threshold(threshold);
  CHECK(verify_suspects({dir / "marked.pt"}, {{f.key, Verifier(strict), "a.wmk"}}, sandboxed())[0].report.verified);
  const auto family = verify_suspects({dir / "marked.pt", dir / "clean.pt"},
                                      {{f.key, Verifier(strict), "a.wmk"}, {f.key, Verifier(strict), "b.wmk"}},
                                      sandboxed());
  CHECK_FALSE(family[0].report.verified);

  // The report file: one check as it is, a family as {"reports": [...]}.
  const auto document = verification_document(checks);
  REQUIRE(document.at("reports").size() == 4);
  CHECK(document["reports"][0].at("family").at("size") == 4);
  const auto single = verification_document({alone});
  CHECK_FALSE(single.contains("reports"));
  CHECK_FALSE(single.contains("family"));
  CHECK_THROWS_WITH(verify_suspects({}, keys, sandboxed()), Contains("at least one suspect"));
  CHECK_THROWS_WITH(verify_suspects({dir / "marked.pt"}, {}, sandboxed()), Contains("one key"));
}

TEST_CASE("a white-box key is not read out of a TorchScript file inside wmark unless asked, nor from a server",
          "[verify]") {
  const auto& f = test::watermarked_mnist();
  test::TempDir dir;
  torch::manual_seed(3);
  auto model = model_registry().create("mnist_cnn", {f.key.input_shape, f.key.num_classes});
  const auto data = balanced_subset(test::mnist().train, 200, 3);
  const auto key = make_uchida_embedder(*model, data,
                                        UchidaOptions().layer("conv2").bits(32).secret(experiment_secret(3, "test")),
                                        "mnist_cnn")
                       ->key();
  save_mnist_checkpoint(*model, dir / "unmarked.pt");
  test::save_mnist_cnn_as_torchscript(*model, dir / "unmarked.ts");
  const Verifier verifier;

  // Loading TorchScript runs the file's code: refused with the sandbox on.
  CHECK_THROWS_WITH(verify_suspect_file(dir / "unmarked.ts", key, verifier, sandboxed(), "uchida.wmk"),
                    Contains("white-box key uchida.wmk") && Contains("unmarked.ts") && Contains("outside the sandbox"));
  // With the sandbox off it is read, and the model that never carried the bits is not claimed.
  const auto script = verify_suspect_file(dir / "unmarked.ts", key, verifier, sandboxed().sandbox(false));
  CHECK_FALSE(script.report.verified);
  CHECK(script.report.bit_error_rate > 0.2);
  const auto checkpoint = verify_suspect_file(dir / "unmarked.pt", key, verifier, sandboxed());
  CHECK(checkpoint.report.bit_error_rate == script.report.bit_error_rate);
  CHECK(checkpoint.report.queries == 32);

  CHECK_THROWS_WITH(verify_remote_suspect(RemoteOptions().url("http://127.0.0.1:9").model("m"), key, verifier,
                                          "uchida.wmk"),
                    Contains("uchida.wmk is a white-box key") && Contains("a server does not give"));
}

TEST_CASE("suspect folders give their model files, sorted; a folder without any is an error", "[verify]") {
  test::TempDir dir;
  std::filesystem::create_directories(dir / "zoo");
  std::filesystem::create_directories(dir / "zoo" / "nested.pt");  // a folder, not a model
  for (const char* name : {"b.pt", "a.ts", "c.pth", "notes.txt"}) std::ofstream(dir / "zoo" / name) << "x";
  std::filesystem::create_directories(dir / "empty");
  const auto files = suspect_files({dir / "zoo", dir / "single.bin"});
  REQUIRE(files.size() == 4);
  CHECK(files[0] == dir / "zoo" / "a.ts");
  CHECK(files[1] == dir / "zoo" / "b.pt");
  CHECK(files[2] == dir / "zoo" / "c.pth");
  CHECK(files[3] == dir / "single.bin");  // a file is taken as given (opening it decides)
  CHECK_THROWS_WITH(suspect_files({dir / "empty"}), Contains("empty") && Contains("holds no model files"));
}

TEST_CASE("a file is hashed in blocks to the digest of its bytes", "[verify]") {
  test::TempDir dir;
  std::string bytes((3 << 20) + 17, '\0');
  for (std::size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<char>((i * 2654435761u) >> 13);
  std::ofstream(dir / "big.bin", std::ios::binary) << bytes;
  std::ofstream(dir / "empty.bin", std::ios::binary);
  CHECK(file_sha256_hex(dir / "big.bin") == sha256_hex(bytes));
  CHECK(file_sha256_hex(dir / "empty.bin") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK_THROWS_WITH(file_sha256_hex(dir / "absent.bin"), Contains("absent.bin"));
  CHECK_THROWS_WITH(file_sha256_hex(dir.path()), Contains("cannot read"));
}
