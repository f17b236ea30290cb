// Command-line flags generated from declared options (util/option_schema.h), so no flag
// repeats a default or a help text: one flag per option across a family of components
// (the schemes, the trigger generators, one attack), its help naming the components.
// Values stay text until the chosen component's schema parses them, so a bad value is
// an error naming the flag and the component.
#pragma once

#include <map>
#include <string>
#include <utility>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "wmark/util/option_schema.h"

namespace wmark::cli {

/// The values of generated flags, by flag name (without "--").
struct OptionFlags {
  std::map<std::string, std::vector<std::string>> values;
  std::map<std::string, CLI::Option*> options;
};

/// Adds one flag per option across `schemas` (label, e.g. "content", and its schema) to
/// `sub`: true/false options are switches (--name, or --name=false), object options take
/// JSON text, and objects are left out unless `with_objects`.
void add_option_flags(CLI::App& sub, const std::vector<std::pair<std::string, OptionSchema>>& schemas,
                      OptionFlags& flags, bool with_objects);

/// The options given as flags that `schema` declares, each parsed by it. A given flag it
/// does not declare is refused with "--FLAG is not an option of <component>" and `hint`,
/// or skipped when `hint` is empty (a flag of a sibling component, checked elsewhere).
nlohmann::json parse_option_flags(const OptionSchema& schema, const OptionFlags& flags, const std::string& hint);

}  // namespace wmark::cli
