#include <catch2/catch.hpp>

#include "wmark/util/error.h"
#include "wmark/util/json_limits.h"

using namespace wmark;
using Catch::Matchers::Contains;

TEST_CASE("check_json_nesting counts brackets outside strings and names what it refuses", "[util]") {
  CHECK_NOTHROW(check_json_nesting("{\"a\": [1, {\"b\": []}]}", 4, "x.json"));
  CHECK_THROWS_WITH(check_json_nesting("{\"a\": [1, {\"b\": []}]}", 3, "x.json"),
                    Contains("x.json") && Contains("nested deeper than 3") && Contains("at byte 16"));
  // Brackets in strings, escaped quotes and backslashes do not count.
  CHECK_NOTHROW(check_json_nesting(R"(["[[[[", "\"[[[[", "\\", "{{{{"])", 1, "x.json"));
  CHECK_THROWS_WITH(check_json_nesting(R"(["\\", [[]]])", 2, "body"), Contains("body"));
  // Depth is nesting, not count: long flat arrays pass.
  std::string flat = "[";
  for (int k = 0; k < 100000; ++k) flat += "[],";
  CHECK_NOTHROW(check_json_nesting(flat + "[]]", 2, "x.json"));
  CHECK_THROWS_AS(check_json_nesting(std::string(100000, '[') + std::string(100000, ']'), 64, "x.json"), Error);
}
