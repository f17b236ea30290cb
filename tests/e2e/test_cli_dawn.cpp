// wmark dawn init | key: a server key keyed on perceptual buckets (mode 0600, never
// overwritten unasked, bad keyings refused with the reason), and the proof key made from
// a log of its answers, one image per bucket.
#include <catch2/catch.hpp>

#include <filesystem>

#include <torch/torch.h>

#include "../support/test_support.h"
#include "../support/watermarked_fixture.h"
#include "wmark/serve/dawn.h"

using namespace wmark;
using Catch::Matchers::Contains;

TEST_CASE("wmark dawn init keys on perceptual buckets, and wmark dawn key counts each bucket once", "[e2e][dawn]") {
  test::TempDir dir;
  const auto path = [&dir](const std::string& name) { return (dir / name).string(); };
  const auto wmark = test::wmark_binary() + " ";
  std::string out;
  REQUIRE(test::run_command(wmark + "train --epochs 1 --seed 6 --dataset mnist --subset 1000 --data-dir " +
                                test::shared_data().string() + " --out " + path("victim.pt"), out) == 0);
  const auto init = wmark + "dawn init --model " + path("victim.pt") + " --rate 0.3 ";
  REQUIRE(test::run_command(init + "--keying perceptual --bits 12 --grid 7 --out " + path("server.wmk"), out) == 0);
  CHECK_THAT(out, Contains("perceptual buckets"));
  CHECK((std::filesystem::status(path("server.wmk")).permissions() & std::filesystem::perms::group_all) ==
        std::filesystem::perms::none);
  const auto key = WatermarkKey::load(path("server.wmk"));
  CHECK(key.params["keying"] == "perceptual");
  CHECK(key.params["bits"] == 12);
  CHECK(key.params["grid"] == 7);
  // Not overwritten unasked; bad keyings refused with the reason.
  CHECK(test::run_command(init + "--keying perceptual --out " + path("server.wmk"), out) == 2);
  CHECK(WatermarkKey::load(path("server.wmk")).secret == key.secret);
  CHECK(test::run_command(init + "--keying fuzzy --out " + path("other.wmk"), out) != 0);
  CHECK_THAT(out, Contains("keying"));
  CHECK(test::run_command(init + "--keying perceptual --grid 29 --out " + path("other.wmk"), out) == 2);
  CHECK_THAT(out, Contains("grid must be in 1..28"));
  CHECK_FALSE(std::filesystem::exists(path("other.wmk")));

  // A log of answers to 50 digits and to each again with one pixel moved.
  const auto digits = test::watermarked_mnist().test.images.narrow(0, 0, 50);
  auto twins = digits.clone();
  auto centre = twins.select(2, 14).select(2, 14);  // pixel (14, 14) of each, one level
  centre.copy_(torch::where(centre.eq(255), centre - 1, centre + 1));
  const auto images = torch::cat({digits, twins});
  auto logits = torch::one_hot(torch::arange(100) % 10, 10).to(torch::kFloat);
  std::int64_t logged = 0;
  {
    DawnAnswers dawn(key, path("answers.jsonl"));
    logged = dawn.apply(images, logits, "test");
  }
  REQUIRE(logged > 10);
  REQUIRE(test::run_command(wmark + "dawn key --server-key " + path("server.wmk") + " --log " + path("answers.jsonl") +
                                " --out " + path("proof.wmk"), out) == 0);
  CHECK_THAT(out, Contains("one per bucket"));
  const auto proof = WatermarkKey::load(path("proof.wmk"));
  CHECK(proof.params["log_entries"] == logged);
  CHECK(proof.tensor("images").size(0) < logged);
}
