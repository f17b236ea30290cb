// DAWN keyed on perceptual buckets: near-twins of an image share its choice, so a thief
// who asks each image again with one pixel moved and votes cannot outvote a changed
// answer; a proof counts each bucket once. A thief whose twins leave the bucket (a
// one-pixel shift) and who drops every image whose answers disagree escapes, as does
// a thief who holds labels for its images, as docs/dawn.md says.
#include <catch2/catch.hpp>

#include <sodium.h>

#include <torch/torch.h>

#include "../support/dawn_fixture.h"
#include "../support/test_support.h"
#include "../support/watermarked_fixture.h"
#include "wmark/train/evaluate.h"
#include "wmark/util/error.h"
#include "wmark/verify/verifier.h"
#include "wmark/watermark/derivation.h"

using namespace wmark;
using Catch::Matchers::Contains;

namespace {

DawnKeying perceptual() {
  DawnKeying keying;
  keying.keying = "perceptual";
  return keying;
}

// `image` (uint8 [C,H,W]) with pixel `at` (flat index) moved by one level.
at::Tensor with_one_pixel_moved(const at::Tensor& image, std::int64_t at) {
  auto twin = image.clone();
  auto flat = twin.view({-1});
  const auto level = flat[at].item<std::int64_t>();
  flat[at] = level == 255 ? 254 : level + 1;
  return twin;
}

}  // namespace

TEST_CASE("a perceptual DAWN key gives an image's near-twins its choice and changes about its rate of answers",
          "[serve][dawn]") {
  const auto& images = test::watermarked_mnist().test.images;
  const auto n = std::min<std::int64_t>(images.size(0), 3000);
  const DawnChooser buckets(test::dawn_server_key(0.1, 1, perceptual())),
      other(test::dawn_server_key(0.1, 2, perceptual())), pixels(test::dawn_server_key(0.1));
  std::int64_t changed = 0, twin_kept = 0, brighter_kept = 0, flatter_kept = 0, pixel_changed = 0, pixel_twin_kept = 0,
               both = 0;
  for (std::int64_t i = 0; i < n; ++i) {
    const auto twin = with_one_pixel_moved(images[i], (i * 7919) % images[i].numel());
    const auto choice = buckets.choose(images[i]);
    changed += choice.changed;
    both += choice.changed && other.choose(images[i]).changed;
    if (choice.changed) {
      const auto again = buckets.choose(twin);
      twin_kept += again.changed && again.shift == choice.shift;
      // Two levels brighter everywhere: the image's mean cancels it.
      const auto brighter = buckets.choose((images[i].to(torch::kInt) + 2).clamp(0, 255).to(torch::kUInt8));
      brighter_kept += brighter.changed && brighter.shift == choice.shift;
      // A tenth less contrast: every projection scales alike, its sign stays.
      const auto flatter = buckets.choose((images[i].to(torch::kFloat) * 0.9).round().to(torch::kUInt8));
      flatter_kept += flatter.changed && flatter.shift == choice.shift;
    }
    if (pixels.choose(images[i]).changed) {
      ++pixel_changed;
      pixel_twin_kept += pixels.choose(twin).changed;
    }
  }
  INFO("changed " << changed << " of " << n << "; twins kept " << twin_kept << ", brighter kept " << brighter_kept << ", flatter kept " << flatter_kept
                  << "; pixel keying: " << pixel_changed << " changed, twins kept " << pixel_twin_kept);
  // Whole buckets are changed, so the share strays further from the rate than per image.
  CHECK(changed > n / 20);
  CHECK(changed < 3 * n / 20);
  CHECK(twin_kept >= changed * 98 / 100);
  CHECK(brighter_kept >= changed * 9 / 10);
  CHECK(flatter_kept >= changed * 9 / 10);
  CHECK(both < changed / 3);  // another secret, other buckets
  // Keyed on the exact pixels, a twin is picked only at the rate.
  CHECK(pixel_twin_kept < pixel_changed / 4);
}

TEST_CASE("a DAWN key's keying is checked, and a key without one keys on pixels", "[serve][dawn]") {
  const auto& f = test::watermarked_mnist();
  const auto make = [&](const std::string& keying, std::int64_t bits, std::int64_t grid) {
    DawnKeying k;
    k.keying = keying;
    k.bits = bits;
    k.grid = grid;
    return make_dawn_server_key(0.1, f.key.input_shape, 10, f.key.normalization, "mnist", k);
  };
  CHECK_THROWS_WITH(make("fuzzy", 16, 8), Contains("'pixels' or 'perceptual'"));
  CHECK_THROWS_WITH(make("perceptual", 0, 8), Contains("1..64"));
  CHECK_THROWS_WITH(make("perceptual", 65, 8), Contains("1..64"));
  CHECK_THROWS_WITH(make("perceptual", 16, 29), Contains("grid must be in 1..28"));
  CHECK_NOTHROW(make("pixels", 0, 0));  // bits and grid are perceptual keying's only

  // Images of another shape or type are refused, whatever the keying.
  for (const auto& keying : {DawnKeying(), perceptual()}) {
    const DawnChooser chooser(test::dawn_server_key(0.1, 1, keying));
    CHECK_THROWS_WITH(chooser.choose(torch::zeros({3, 28, 28}, torch::kUInt8)), Contains("the DAWN key is for 1x28x28"));
    CHECK_THROWS_WITH(chooser.choose(torch::zeros({1, 28, 28})), Contains("uint8 images"));
  }

  auto broken = test::dawn_server_key(0.1, 1, perceptual());
  broken.params.erase("bits");
  CHECK_THROWS_WITH(DawnChooser{broken}, Contains("integer 'bits' and 'grid'"));

  // Keyed on pixels, the digest is the documented one, as servers before perceptual
  // keying wrote their logs: BLAKE2b-128 keyed with the secret over "wmark-dawn-v1" 0x00,
  // [C,H,W] as int64 little-endian, the pixels; its first 8 bytes below rate * 2^64 pick.
  {
    const auto key = test::dawn_server_key(0.1);
    const DawnChooser chooser(key);
    std::int64_t agreed = 0;
    for (std::int64_t i = 0; i < 200; ++i) {
      const auto image = f.test.images[i].contiguous();
      std::string message("wmark-dawn-v1", sizeof("wmark-dawn-v1"));
      for (const std::uint64_t size : {1, 28, 28})
        for (int b = 0; b < 8; ++b) message.push_back(static_cast<char>((size >> (8 * b)) & 0xff));
      message.append(reinterpret_cast<const char*>(image.data_ptr<std::uint8_t>()), 784);
      unsigned char digest[16];
      crypto_generichash(digest, sizeof(digest), reinterpret_cast<const unsigned char*>(message.data()), message.size(),
                         key.secret.value.data(), key.secret.value.size());
      std::uint64_t pick = 0, shift = 0;
      for (int b = 7; b >= 0; --b) pick = (pick << 8) | digest[b], shift = (shift << 8) | digest[8 + b];
      const auto choice = chooser.choose(image);
      agreed += choice.changed == (pick < static_cast<std::uint64_t>(0.1 * 18446744073709551616.0)) &&
                choice.shift == 1 + static_cast<std::int64_t>(shift % 9);
    }
    CHECK(agreed == 200);
  }

  // Keys made before perceptual keying hold only the rate.
  auto old = test::dawn_server_key(0.1);
  old.params = {{"rate", 0.1}};
  const DawnChooser legacy(old), pixels(test::dawn_server_key(0.1));
  test::TempDir dir;
  auto saved = test::dawn_server_key(0.1, 1, perceptual());
  saved.save(dir / "server.wmk");
  const DawnChooser original(saved), reloaded(WatermarkKey::load(dir / "server.wmk"));
  for (std::int64_t i = 0; i < 200; ++i) {
    const auto image = f.test.images[i];
    CHECK(legacy.bucket(image) == pixels.bucket(image));
    CHECK(legacy.choose(image).changed == pixels.choose(image).changed);
    CHECK(original.bucket(image) == reloaded.bucket(image));
  }
}

TEST_CASE("a perceptual DAWN proof key counts each bucket once, and a key that counts one twice is flagged",
          "[serve][dawn]") {
  const auto& f = test::watermarked_mnist();
  test::TempDir dir;
  const auto key = test::dawn_server_key(0.5, 1, perceptual());
  DawnAnswers dawn(key, dir / "answers.jsonl");
  // 100 images and a twin of each with one pixel moved: logged twice, one bucket.
  const auto originals = f.test.images.narrow(0, 0, 100);
  std::vector<at::Tensor> twins;
  for (std::int64_t i = 0; i < 100; ++i) twins.push_back(with_one_pixel_moved(originals[i], 400));
  const auto images = torch::cat({originals, torch::stack(twins)});
  auto logits = torch::one_hot(f.test.labels.narrow(0, 0, 100).repeat({2}), 10).to(torch::kFloat);
  const auto rows = dawn.apply(images, logits, "test");
  REQUIRE(rows > 60);
  const auto proof = dawn_proof_key(key, dir / "answers.jsonl");
  CHECK(proof.params["log_entries"] == rows);
  CHECK(proof.params["keying"] == "perceptual");
  CHECK(proof.tensor("images").size(0) <= rows / 2 + 2);  // a twin seldom leaves its bucket
  CHECK_THAT(check_key_derivation(proof, std::nullopt).reason, Contains("time stamp"));

  // Counted twice, one bucket's answers would be two trials of one keyed draw.
  auto doubled = proof;
  doubled.tensors["images"] = torch::cat({proof.tensor("images"), proof.tensor("images").narrow(0, 0, 1)});
  doubled.tensors["labels"] = torch::cat({proof.tensor("labels"), proof.tensor("labels").narrow(0, 0, 1)});
  doubled.tensors["model_labels"] =
      torch::cat({proof.tensor("model_labels"), proof.tensor("model_labels").narrow(0, 0, 1)});
  CHECK_THAT(check_key_derivation(doubled, std::nullopt).reason, Contains("shares its bucket"));
}

TEST_CASE("a thief who votes with one-pixel nudges is claimed under a perceptual DAWN key; one who votes with "
          "one-pixel shifts and drops every disagreement escapes it",
          "[serve][dawn][extraction]") {
  const auto& f = test::watermarked_mnist();
  const auto key = test::dawn_server_key(0.05, 1, perceptual());
  {
    test::TempDir dir;
    const auto [copy, proof, queries] = test::extract_through_dawn(key, dir.path(), 10, RetrainingOptions().votes(3));
    CHECK(queries == 3000);
    const auto report = Verifier().verify_model(*copy, proof, "surrogate", torch::kCPU);
    INFO(report.summary());
    CHECK(report.verified);
    CHECK_FALSE(Verifier().verify_model(*f.model, proof, "victim", torch::kCPU).verified);
    CHECK_FALSE(Verifier().verify_model(*test::clean_mnist(), proof, "clean", torch::kCPU).verified);
    CHECK(accuracy(*copy, f.test, torch::kCPU) > 0.85);
  }
  {
    test::TempDir dir;
    const auto [copy, proof, queries] = test::extract_through_dawn(
        key, dir.path(), 10, RetrainingOptions().votes(3).vote_twin("shift").vote_unanimous(true));
    CHECK(queries == 3000);
    const auto report = Verifier().verify_model(*copy, proof, "surrogate", torch::kCPU);
    INFO(report.summary());
    CHECK_FALSE(report.verified);
    CHECK(accuracy(*copy, f.test, torch::kCPU) > 0.85);
  }
}

TEST_CASE("a thief who holds labels for its images and drops the answers that disagree with them escapes DAWN, "
          "keyed on pixels or on buckets",
          "[serve][dawn][extraction]") {
  const auto& f = test::watermarked_mnist();
  for (const auto& keying : {DawnKeying(), perceptual()}) {
    test::TempDir dir;
    const auto [copy, proof, queries] = test::extract_through_dawn(test::dawn_server_key(0.05, 1, keying), dir.path(),
                                                                   10, RetrainingOptions().check_own_labels(true));
    INFO(keying.keying);
    CHECK(queries == 1000);
    CHECK(proof.tensor("images").size(0) >= 10);  // the server did change its answers
    const auto report = Verifier().verify_model(*copy, proof, "surrogate", torch::kCPU);
    INFO(report.summary());
    CHECK_FALSE(report.verified);
    CHECK(accuracy(*copy, f.test, torch::kCPU) > 0.85);
  }
}
