#include <catch2/catch.hpp>

#include <torch/torch.h>

#include "../support/test_support.h"
#include "wmark/util/error.h"
#include "wmark/util/files.h"
#include "wmark/watermark/key.h"

using namespace wmark;
using Catch::Matchers::Contains;

namespace {
WatermarkKey sample_key() {
  WatermarkKey key;
  key.method = "trigger-set";
  key.params = {{"generator", "content"}, {"label_policy", "target"}, {"target_label", 7}};
  key.seed = 123456789012345ULL;
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
  CHECK(loaded.seed == key.seed);
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
