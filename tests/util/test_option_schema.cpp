#include <catch2/catch.hpp>

#include "wmark/util/error.h"
#include "wmark/util/option_schema.h"

using namespace wmark;
using json = nlohmann::json;
using Catch::Matchers::Contains;

namespace {

OptionSchema example() {
  return OptionSchema("the example scheme")
      .integer("bits", 64, "number of bits", 1, 1024)
      .number("strength", 0.1, "weight of the loss", 0.0, 10.0)
      .text("source", "noise", "where candidates come from", {"noise", "perturbed"})
      .flag("key-source")
      .boolean("fast", false, "skip the slow part")
      .integers("classes", {}, "target classes (default: one from the secret)", 0, 9)
      .object("extra", "another component's options");
}

}  // namespace

TEST_CASE("an option schema fills defaults and refuses unknown, mistyped and out-of-range values", "[util]") {
  const auto schema = example();
  const auto defaults = schema.defaults();
  CHECK(defaults == json{{"bits", 64}, {"strength", 0.1}, {"source", "noise"}, {"fast", false},
                         {"classes", json::array()}, {"extra", json::object()}});
  // Reading what it wrote gives the same options: the writer is the reader's fixed point.
  const auto given = schema.read({{"bits", 8}, {"classes", {1, 2}}, {"extra", {{"text", "A"}}}});
  CHECK(given["bits"] == 8);
  CHECK(given["strength"] == 0.1);
  CHECK(schema.read(given) == given);
  CHECK(schema.read(nullptr) == defaults);
  // An integer where a real is declared is a real.
  CHECK(schema.read({{"strength", 1}})["strength"].is_number_float());

  CHECK_THROWS_WITH(schema.read({{"bitz", 8}}), Contains("the example scheme: unknown option 'bitz'") &&
                                                    Contains("known: bits, strength, source, fast, classes, extra"));
  CHECK_THROWS_WITH(schema.read({{"bits", "8"}}), Contains("'bits' must be an integer"));
  CHECK_THROWS_WITH(schema.read({{"bits", 8.5}}), Contains("'bits' must be an integer"));
  CHECK_THROWS_WITH(schema.read({{"bits", 0}}), Contains("'bits' must be at least 1, not 0"));
  CHECK_THROWS_WITH(schema.read({{"bits", 2048}}), Contains("'bits' must be at most 1024, not 2048"));
  CHECK_THROWS_WITH(schema.read({{"strength", -1.0}}), Contains("'strength' must be at least 0"));
  CHECK_THROWS_WITH(schema.read({{"source", "camera"}}), Contains("'source' must be one of noise, perturbed"));
  CHECK_THROWS_WITH(schema.read({{"fast", 1}}), Contains("'fast' must be true or false"));
  CHECK_THROWS_WITH(schema.read({{"classes", {1, 12}}}), Contains("'classes' must be at most 9, not 12"));
  CHECK_THROWS_WITH(schema.read({{"classes", 3}}), Contains("'classes' must be a list of integers"));
  CHECK_THROWS_WITH(schema.read({{"extra", "x"}}), Contains("'extra' must be a JSON object"));
  CHECK_THROWS_WITH(schema.read(json::array()), Contains("options must be a JSON object"));
  CHECK_THROWS_AS(OptionSchema("twice").integer("a", 1, "").integer("a", 2, ""), Error);
  CHECK_THROWS_WITH(OptionSchema("bad default").integer("a", 0, "", 1), Contains("its default"));
}

TEST_CASE("an option schema parses command-line text and describes itself", "[util]") {
  const auto schema = example();
  CHECK(schema.parse_flag("bits", {"12"}) == 12);
  CHECK(schema.parse_flag("strength", {"0.5"}) == 0.5);
  CHECK(schema.parse_flag("fast", {"true"}) == true);
  CHECK(schema.parse_flag("classes", {"3", "4"}) == json{3, 4});
  CHECK(schema.parse_flag("extra", {R"({"sigma": 0.2})"}) == json{{"sigma", 0.2}});
  CHECK_THROWS_WITH(schema.parse_flag("bits", {"12x"}), Contains("--bits: '12x' is not an integer"));
  CHECK_THROWS_WITH(schema.parse_flag("bits", {"99999999999999999999"}), Contains("is not an integer"));
  CHECK_THROWS_WITH(schema.parse_flag("bits", {"4096"}), Contains("at most 1024"));
  CHECK_THROWS_WITH(schema.parse_flag("strength", {"nan"}), Contains("must be finite"));
  CHECK_THROWS_WITH(schema.parse_flag("source", {"camera"}), Contains("--key-source"));
  CHECK_THROWS_WITH(schema.parse_flag("fast", {"yes"}), Contains("not true or false"));
  CHECK_THROWS_WITH(schema.parse_flag("extra", {"{"}), Contains("not valid JSON"));
  CHECK_THROWS_WITH(schema.parse_flag("nope", {"1"}), Contains("has no option 'nope'"));

  CHECK(flag_name(*schema.find("source")) == "key-source");
  CHECK(flag_name(*schema.find("strength")) == "strength");
  const auto help = schema.help_text();
  CHECK_THAT(help, Contains("--bits INT\n      number of bits (default 64; range 1..1024)"));
  CHECK_THAT(help, Contains("--key-source TEXT\n      where candidates come from (default \"noise\"; one of noise perturbed)"));
  CHECK_THAT(help, Contains("target classes (default: one from the secret) (range 0..9)"));
}
