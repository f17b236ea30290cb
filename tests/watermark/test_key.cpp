#include <catch2/catch.hpp>

#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <sstream>

#include "../support/test_support.h"
#include "wmark/util/error.h"
#include "wmark/util/files.h"
#include "wmark/util/log.h"
#include "wmark/util/sha256.h"
#include "wmark/watermark/key.h"
#include "wmark/watermark/save_marked.h"

using namespace wmark;
using Catch::Matchers::Contains;

namespace {
WatermarkKey sample_key() {
  WatermarkKey key;
  key.method = "trigger-set";
  key.params = {{"generator", "content"}, {"label_policy", "target"}, {"target_label", 7}};
  key.secret.owner_public_key = std::string(64, 'd');
  key.num_classes = 10;
  key.input_shape = {1, 28, 28};
  key.normalization = {{0.1307}, {0.3081}};
  key.dataset = "mnist";
  key.created = "2026-11-23T10:00:00Z";
  key.tensors["images"] = torch::randint(0, 256, {5, 1, 28, 28}, torch::kLong).to(torch::kUInt8);
  key.tensors["labels"] = torch::full({5}, 7, torch::kLong);
  key.tensors["matrix"] = torch::randn({3, 4});
  return key;
}
}  // namespace

TEST_CASE("a key survives a save/load round trip with its commitment", "[watermark]") {
  test::TempDir dir;
  const auto key = sample_key();
  key.save(dir / "k.wmk");
  const auto mode = std::filesystem::status(dir / "k.wmk").permissions();
  CHECK((mode & (std::filesystem::perms::group_all | std::filesystem::perms::others_all)) == std::filesystem::perms::none);
  CHECK_THROWS_WITH(key.save(dir / "k.wmk"), Contains("already exists"));

  const auto loaded = WatermarkKey::load(dir / "k.wmk");
  CHECK(loaded.commitment() == key.commitment());
  CHECK(loaded.secret == key.secret);
  CHECK(loaded.salt == key.salt);
  CHECK_FALSE(loaded.legacy_seed);
  CHECK(loaded.params == key.params);
  CHECK(loaded.input_shape == key.input_shape);
  for (const auto& [name, tensor] : key.tensors) CHECK(torch::equal(loaded.tensor(name), tensor));
  CHECK_THROWS_WITH(loaded.tensor("bits"), Contains("no tensor 'bits'"));

  // The commitment covers every tensor and every header field.
  auto changed = key;
  changed.tensors["labels"] = key.tensors.at("labels").clone();  // tensors copy shallowly
  changed.tensors["labels"][2] = 3;
  CHECK(changed.commitment() != key.commitment());
  changed = key;
  changed.params["target_label"] = 6;
  CHECK(changed.commitment() != key.commitment());
}

TEST_CASE("a tampered or malformed key file is refused with the reason", "[watermark]") {
  test::TempDir dir;
  sample_key().save(dir / "k.wmk");
  const std::string good = read_file(dir / "k.wmk");
  auto write = [&](const std::string& bytes) { test::write_bytes(dir / "bad.wmk", bytes); };

  SECTION("one payload byte changed") {
    std::string bytes = good;
    bytes[bytes.size() - 100] ^= 1;
    write(bytes);
    CHECK_THROWS_WITH(WatermarkKey::load(dir / "bad.wmk"), Contains("bad.wmk") && Contains("commitment mismatch"));
  }
  SECTION("a header field changed") {
    std::string bytes = good;
    bytes.replace(bytes.find("\"target_label\":7"), 16, "\"target_label\":3");
    write(bytes);
    CHECK_THROWS_WITH(WatermarkKey::load(dir / "bad.wmk"), Contains("commitment mismatch"));
  }
  SECTION("the owner or the salt changed: both are under the commitment") {
    for (const std::string field : {"\"owner\":\"", "\"salt\":\""}) {
      std::string bytes = good;
      const auto at = bytes.find(field) + field.size();
      bytes.replace(at, 64, std::string(64, 'e'));
      write(bytes);
      CHECK_THROWS_WITH(WatermarkKey::load(dir / "bad.wmk"), Contains("commitment mismatch"));
    }
  }
  SECTION("a secret, salt, hash or derivation of the wrong form, refused without echo") {
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"\"secret\":\"", "\"secret\":\"zz"}, {"\"salt\":\"", "\"salt\":\"0"},
        {"\"hash\":\"sha256\"", "\"hash\":\"md5-secretive\""},
        {"\"derivation\":\"wmark-key-stream-v1\"", "\"derivation\":\"mine\""}};
    for (const auto& [from, to] : cases) {
      std::string bytes = good;
      REQUIRE(bytes.find(from) != std::string::npos);
      bytes.replace(bytes.find(from), from.size(), to);
      write(bytes);
      CHECK_THROWS_WITH(WatermarkKey::load(dir / "bad.wmk"), Contains("bad.wmk") && !Contains("secretive"));
    }
  }
  SECTION("truncated") {
    write(good.substr(0, good.size() - 10));
    CHECK_THROWS_WITH(WatermarkKey::load(dir / "bad.wmk"), Contains("truncated"));
  }
  SECTION("trailing bytes") {
    write(good + "xx");
    CHECK_THROWS_WITH(WatermarkKey::load(dir / "bad.wmk"), Contains("unexpected bytes"));
  }
  SECTION("not a key") {
    write("{\"method\": \"trigger-set\"}");
    CHECK_THROWS_WITH(WatermarkKey::load(dir / "bad.wmk"), Contains("not a wmark key file"));
  }
  SECTION("malformed JSON header") {
    write("WMARK-KEY 1\n{\"method\": \n");
    CHECK_THROWS_WITH(WatermarkKey::load(dir / "bad.wmk"), Contains("malformed JSON header"));
  }
  SECTION("a number too large for any type (found by fuzz_key)") {
    write("WMARK-KEY 1\n{\"seed\": 66666606666e660666}\n");
    CHECK_THROWS_WITH(WatermarkKey::load(dir / "bad.wmk"), Contains("bad.wmk") && Contains("malformed JSON header"));
  }
  SECTION("missing field") {
    write("WMARK-KEY 1\n{\"method\": \"trigger-set\"}\n");
    CHECK_THROWS_WITH(WatermarkKey::load(dir / "bad.wmk"), Contains("malformed key header"));
  }
  SECTION("missing file") {
    CHECK_THROWS_WITH(WatermarkKey::load(dir / "nope.wmk"), Contains("nope.wmk") && Contains("does not exist"));
  }
  SECTION("a shape that lies about the bytes present, refused before allocating") {
    std::string bytes = good;
    // 2^48 floats (a petabyte) for the 48 bytes of a 3x4 matrix: the old reader asked
    // LibTorch for the memory before comparing.
    bytes.replace(bytes.find("\"shape\":[3,4]"), 13, "\"shape\":[65536,65536,65536]");
    write(bytes);
    CHECK_THROWS_WITH(WatermarkKey::load(dir / "bad.wmk"),
                      Contains("bad.wmk") && Contains("'matrix' needs more than its 48 bytes"));
  }
  SECTION("a header nested 100,000 deep") {
    std::string bytes = good;
    const auto params = bytes.find("\"params\":{");
    bytes.replace(params, bytes.find('}', params) + 1 - params, "\"params\":" + test::deeply_nested_json(100000));
    write(bytes);
    CHECK_THROWS_WITH(WatermarkKey::load(dir / "bad.wmk"), Contains("bad.wmk") && Contains("nested deeper than 64"));
  }
}

TEST_CASE("loading a key that group or others can read logs a warning naming it and its mode", "[watermark]") {
  test::TempDir dir;
  sample_key().save(dir / "k.wmk");
  std::ostringstream log;
  auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(log);
  logger()->sinks().push_back(sink);
  WatermarkKey::load(dir / "k.wmk");
  const auto quiet = log.str();
  std::filesystem::permissions(dir / "k.wmk", std::filesystem::perms::others_read, std::filesystem::perm_options::add);
  WatermarkKey::load(dir / "k.wmk");
  logger()->sinks().pop_back();
  CHECK(quiet.find("k.wmk") == std::string::npos);  // 0600: nothing to say
  CHECK_THAT(log.str(), Contains((dir / "k.wmk").string()) && Contains("mode 604") && Contains("chmod 600"));
}

TEST_CASE("a model and its key are written together or not at all", "[watermark]") {
  test::TempDir dir;
  auto key = sample_key();
  torch::nn::Linear model(256, 256);  // a checkpoint of about 260 KB; the key is about 4 KB
  CheckpointInfo info;
  info.arch = "linear";
  SECTION("the model cannot be written: the key just written is removed") {
    test::FileSizeLimit limit(64 * 1024);
    CHECK_THROWS_WITH(save_marked_model(key, dir / "k.wmk", *model, info, dir / "m.pt", false), Contains("m.pt"));
  }
  SECTION("the key cannot be written: no model is written without it") {
    key.tensors["images"] = torch::zeros({400, 1, 28, 28}, torch::kUInt8);  // about 310 KB
    torch::nn::Linear small(2, 2);
    test::FileSizeLimit limit(64 * 1024);
    CHECK_THROWS_WITH(save_marked_model(key, dir / "k.wmk", *small, info, dir / "m.pt", false), Contains("k.wmk"));
  }
  CHECK_FALSE(std::filesystem::exists(dir / "k.wmk"));
  CHECK_FALSE(std::filesystem::exists(dir / "m.pt"));
  for (const auto& entry : std::filesystem::directory_iterator(dir.path())) FAIL("left behind: " << entry.path());
  // Nothing existing is replaced without force, and with room both are written.
  test::write_bytes(dir / "m.pt", "theirs", true);
  CHECK_THROWS_WITH(save_marked_model(key, dir / "k.wmk", *model, info, dir / "m.pt", false), Contains("already exists"));
  CHECK_FALSE(std::filesystem::exists(dir / "k.wmk"));
  CHECK(read_file(dir / "m.pt") == "theirs");
  save_marked_model(key, dir / "k.wmk", *model, info, dir / "m2.pt", false);
  CHECK(WatermarkKey::load(dir / "k.wmk").commitment() == key.commitment());
  CHECK(std::filesystem::exists(dir / "m2.pt"));
}

TEST_CASE("public key information holds no secrets", "[watermark]") {
  const auto key = sample_key();
  const auto info = key.public_info();
  const std::string text = info.dump();
  CHECK(info["commitment"] == key.commitment());
  CHECK(info["generator"] == "content");
  CHECK_FALSE(info.contains("seed"));
  CHECK(text.find("123456789012345") == std::string::npos);
  CHECK(text.find("target_label") == std::string::npos);
}

TEST_CASE("a format-1 key (64-bit seed, no salt) still loads as a legacy key and keeps its commitment",
          "[watermark]") {
  test::TempDir dir;
  auto key = sample_key();
  key.legacy_seed = 123456789012345ULL;
  key.save(dir / "old.wmk");
  const std::string bytes = read_file(dir / "old.wmk");
  CHECK(bytes.rfind("WMARK-KEY 1\n", 0) == 0);
  CHECK(bytes.find("\"salt\"") == std::string::npos);
  const auto loaded = WatermarkKey::load(dir / "old.wmk");
  REQUIRE(loaded.legacy_seed);
  CHECK(*loaded.legacy_seed == 123456789012345ULL);
  CHECK(loaded.commitment() == key.commitment());
  CHECK(loaded.public_info()["format"] == 1);
  CHECK(loaded.public_info()["owner"] == "");
  // Its commitment is the format-1 one: SHA-256 over the v1 prefix, header and payload.
  const auto header_start = bytes.find('\n') + 1;
  const auto header_end = bytes.find('\n', header_start);
  auto header = nlohmann::json::parse(bytes.substr(header_start, header_end - header_start));
  const auto stored = header["commitment"].get<std::string>();
  header.erase("commitment");
  CHECK(sha256_hex("wmark-key-commitment-v1\n" + header.dump() + "\n" + bytes.substr(header_end + 1)) == stored);
}
