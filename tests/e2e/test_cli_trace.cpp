// wmark embed --method deepmarks and wmark trace: a user's fingerprinted copy names its
// user; the clean model it came from names nobody.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "../support/test_support.h"
#include "wmark/util/files.h"

using namespace wmark;
using Catch::Matchers::Contains;

TEST_CASE("wmark trace names the user of a deepmarks copy and nobody for the clean model", "[e2e]") {
  test::TempDir dir;
  const auto path = [&dir](const std::string& name) { return (dir / name).string(); };
  const auto wmark = test::wmark_binary() + " ";
  const auto data = " --dataset mnist --subset 2000 --data-dir " + test::shared_data().string();
  std::string out;
  REQUIRE(test::run_command(wmark + "train --epochs 2 --seed 6" + data + " --out " + path("clean.pt"), out) == 0);
  REQUIRE(test::run_command(wmark + "embed --method deepmarks --users 13 --user 2 --from " + path("clean.pt") + data +
                                " --out " + path("user2.pt") + " --key-out " + path("user2.wmk"), out) == 0);
  CHECK(test::run_command(wmark + "verify --model " + path("user2.pt") + " --key " + path("user2.wmk"), out) == 0);
  REQUIRE(test::run_command(wmark + "trace --model " + path("user2.pt") + " --key " + path("user2.wmk") + " --report " +
                                path("trace.json"), out) == 0);
  CHECK_THAT(out, Contains("made from the copies of user 2"));
  const auto report = nlohmann::json::parse(read_file(path("trace.json")));
  CHECK(report["users"] == nlohmann::json::array({2}));
  CHECK(test::run_command(wmark + "trace --model " + path("clean.pt") + " --key " + path("user2.wmk"), out) == 1);
  CHECK_THAT(out, Contains("not traceable"));
  CHECK(test::run_command(wmark + "embed --method deepmarks --order 4" + data + " --out " + path("never.pt") +
                              " --key-out " + path("never.wmk"), out) == 2);
  CHECK_THAT(out, Contains("prime"));
}
