// Shared by the conformance tests of registries whose parts declare their options
// (attacks, trigger generators, input transforms; util/option_binding.h), and by the
// schemes' conformance test: the declaration is what the part
// runs with, and every declared range, choice and type is enforced.
#pragma once

#include <catch2/catch.hpp>

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "wmark/util/option_schema.h"

namespace wmark::test {

// Every declared range, choice and type of `schema` is enforced by `create` (which makes
// the part from options JSON), with an error naming the option. (Unknown options: the
// callers check them, each with its registry's message.)
template <class Create>
void check_schema_enforced(const OptionSchema& schema, const std::string& name, Create create) {
  using Catch::Contains;
  using nlohmann::json;
  for (const auto& spec : schema.specs()) {
    INFO(name << " option " << spec.name);
    CHECK_FALSE(spec.help.empty());
    const auto bound = [&spec](double x, double step) {
      return spec.type == OptionType::integer ? json(static_cast<std::int64_t>(x + step)) : json(x + step);
    };
    if (spec.type == OptionType::integer || spec.type == OptionType::number) {
      if (spec.min) CHECK_THROWS_WITH(create({{spec.name, bound(*spec.min, -1)}}), Contains("'" + spec.name + "' must be at least"));
      if (spec.max) CHECK_THROWS_WITH(create({{spec.name, bound(*spec.max, 1)}}), Contains("'" + spec.name + "' must be at most"));
    }
    if (!spec.choices.empty()) CHECK_THROWS_WITH(create({{spec.name, "not-a-choice"}}), Contains("must be one of"));
    CHECK_THROWS_WITH(create({{spec.name, nullptr}}), Contains("'" + spec.name + "' must be"));
  }
}

template <class Registry>
void check_declared_options(const Registry& registry, const std::string& name) {
  const auto* schema = registry.schema(name);
  REQUIRE(schema);
  CHECK_FALSE(registry.summary(name).empty());
  const auto made = registry.create(name);
  CHECK(made->options() == schema->defaults());  // the declared defaults are the ones it runs with
  CHECK(registry.create(name, made->options())->options() == made->options());
  CHECK_THROWS_WITH(registry.create(name, {{"no_such_option", 1}}), Catch::Contains("unknown option 'no_such_option'"));
  check_schema_enforced(*schema, name, [&](const nlohmann::json& options) { return registry.create(name, options); });
}

}  // namespace wmark::test
