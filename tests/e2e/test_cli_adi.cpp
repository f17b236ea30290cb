// The adi dispute workflow through the CLI: the owner publishes per-trigger commitments,
// the verifier draws which triggers to open, the owner opens them, and verify checks the
// opening before querying the suspect.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "../support/test_support.h"
#include "wmark/util/files.h"

using namespace wmark;
using Catch::Matchers::Contains;
using json = nlohmann::json;

TEST_CASE("wmark commitments, open-request, open and verify --opening settle an adi dispute", "[e2e]") {
  test::TempDir dir;
  const auto path = [&dir](const std::string& name) { return (dir / name).string(); };
  const auto wmark = test::wmark_binary() + " ";
  const auto data = " --dataset mnist --data-dir " + test::shared_data().string();
  std::string out;
  REQUIRE(test::run_command(wmark + "embed --method adi --trigger-size 40 --shapes 8 --subset 2000 --epochs 2 --seed 5" +
                                data + " --out " + path("adi.pt") + " --key-out " + path("adi.wmk"), out) == 0);
  REQUIRE(test::run_command(wmark + "train --subset 1000 --epochs 1 --seed 6" + data + " --out " + path("clean.pt"), out) == 0);

  REQUIRE(test::run_command(wmark + "commitments --key " + path("adi.wmk") + " --out " + path("published.json"), out) == 0);
  CHECK_THAT(out, Contains("40 trigger commitments"));
  const auto published = json::parse(read_file(path("published.json")));
  CHECK(published["commitments"].size() == 40);
  REQUIRE(test::run_command(wmark + "open-request --published " + path("published.json") + " --count 20 --out " +
                                path("request.json"), out) == 0);
  REQUIRE(test::run_command(wmark + "open --key " + path("adi.wmk") + " --request " + path("request.json") + " --out " +
                                path("opening.json"), out) == 0);
  CHECK_THAT(out, Contains("opened 20 triggers"));

  const auto opened = " --published " + path("published.json") + " --request " + path("request.json") + " --opening " +
                      path("opening.json");
  CHECK(test::run_command(wmark + "verify --model " + path("adi.pt") + opened, out) == 0);
  CHECK(test::run_command(wmark + "verify --model " + path("clean.pt") + opened, out) == 1);

  // An opening of other triggers than requested, or with an altered seed, is an error.
  REQUIRE(test::run_command(wmark + "open-request --published " + path("published.json") + " --count 20 --out " +
                                path("request2.json"), out) == 0);
  if (read_file(path("request2.json")) != read_file(path("request.json"))) {
    CHECK(test::run_command(wmark + "verify --model " + path("adi.pt") + " --published " + path("published.json") +
                                " --request " + path("request2.json") + " --opening " + path("opening.json"), out) == 2);
    CHECK_THAT(out, Contains("does not open the triggers the verifier requested"));
  }
  auto opening = json::parse(read_file(path("opening.json")));
  auto seed = opening["seeds"][0].get<std::string>();
  seed[0] = seed[0] == '0' ? '1' : '0';
  opening["seeds"][0] = seed;
  write_file_atomic(path("forged.json"), opening.dump(), false);
  CHECK(test::run_command(wmark + "verify --model " + path("adi.pt") + " --published " + path("published.json") +
                              " --request " + path("request.json") + " --opening " + path("forged.json"), out) == 2);
  CHECK_THAT(out, Contains("does not open its published commitment"));
  // A request for another key is refused by the owner's side too.
  auto foreign = json::parse(read_file(path("request.json")));
  foreign["key_commitment"] = std::string(64, 'a');
  write_file_atomic(path("foreign.json"), foreign.dump(), false);
  CHECK(test::run_command(wmark + "open --key " + path("adi.wmk") + " --request " + path("foreign.json") + " --out " +
                              path("never.json"), out) == 2);
  CHECK_THAT(out, Contains("for another key"));
  CHECK(test::run_command(wmark + "verify --model " + path("adi.pt") + " --opening " + path("opening.json"), out) == 2);
  CHECK_THAT(out, Contains("--opening needs --published"));
}
