// wmark embed --method certified and wmark certify: the marked model's smoothed reading
// verifies with a positive radius, a clean model's does not (exit 1), and a key without a
// recorded sigma or a white-box key is refused with the reason (exit 2).
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "../support/test_support.h"
#include "wmark/util/files.h"

using namespace wmark;
using Catch::Matchers::Contains;

TEST_CASE("wmark certify certifies a certified mark and not a clean model", "[e2e]") {
  test::TempDir dir;
  const auto path = [&dir](const std::string& name) { return (dir / name).string(); };
  const auto wmark = test::wmark_binary() + " ";
  const auto data = " --dataset mnist --subset 3000 --data-dir " + test::shared_data().string();
  std::string out;
  REQUIRE(test::run_command(wmark + "train --epochs 2 --seed 6" + data + " --out " + path("clean.pt"), out) == 0);
  REQUIRE(test::run_command(wmark + "embed --method certified --smoothing-sigma 0.05 --trigger-size 50 --noise-draws 4 --epochs 2 --seed 7" +
                                data + " --out " + path("marked.pt") + " --key-out " + path("marked.wmk"), out) == 0);
  const auto certify = wmark + "certify --draws 100 --seed 3 --key " + path("marked.wmk") + " --model ";
  REQUIRE(test::run_command(certify + path("marked.pt") + " --report " + path("cert.json"), out) == 0);
  CHECK_THAT(out, Contains("certified l2 radius"));
  const auto report = nlohmann::json::parse(read_file(path("cert.json")));
  CHECK(report["verified"] == true);
  CHECK(report["radius"].get<double>() > 0);
  CHECK(report["match_rates"].size() == 100);
  CHECK(test::run_command(certify + path("clean.pt"), out) == 1);
  CHECK_THAT(out, Contains("certified l2 radius: 0"));
  // An existing report is not overwritten unasked.
  CHECK(test::run_command(certify + path("marked.pt") + " --report " + path("cert.json"), out) == 2);

  REQUIRE(test::run_command(wmark + "embed --method uchida --bits 32 --epochs 1 --seed 7" + data + " --out " +
                                path("white.pt") + " --key-out " + path("white.wmk"), out) == 0);
  CHECK(test::run_command(wmark + "certify --sigma 0.1 --key " + path("white.wmk") + " --model " + path("white.pt"),
                          out) == 2);
  CHECK_THAT(out, Contains("black-box"));
  REQUIRE(test::run_command(wmark + "embed --method trigger-set --trigger content --trigger-size 20 --epochs 1 --seed 7" + data + " --out " +
                                path("plain.pt") + " --key-out " + path("plain.wmk"), out) == 0);
  CHECK(test::run_command(wmark + "certify --key " + path("plain.wmk") + " --model " + path("plain.pt"), out) == 2);
  CHECK_THAT(out, Contains("give --sigma"));
}
