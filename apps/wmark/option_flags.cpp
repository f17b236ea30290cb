#include "option_flags.h"

#include <algorithm>

#include "wmark/util/error.h"

namespace wmark::cli {

void add_option_flags(CLI::App& sub, const std::vector<std::pair<std::string, OptionSchema>>& schemas,
                      OptionFlags& flags, bool with_objects) {
  std::map<std::string, std::vector<std::pair<std::string, OptionSpec>>> by_flag;
  for (const auto& [label, schema] : schemas) {
    for (const auto& spec : schema.specs()) {
      if (with_objects || spec.type != OptionType::object) by_flag[flag_name(spec)].emplace_back(label, spec);
    }
  }
  for (const auto& [flag, users] : by_flag) {
    std::vector<std::pair<std::string, std::string>> helps;  // (labels, help): a help shared by several once
    for (const auto& [label, spec] : users) {
      auto same = std::find_if(helps.begin(), helps.end(), [&](const auto& h) { return h.second == spec.help; });
      if (same == helps.end()) {
        helps.emplace_back(label, spec.help);
      } else {
        same->first += ", " + label;
      }
    }
    std::string help;
    for (const auto& [labels, text] : helps) {
      help += (help.empty() ? "" : "; ") + (schemas.size() > 1 ? labels + ": " : std::string()) + text;
    }
    const auto& first = users.front().second;
    const auto& fallback = first.default_value;
    if (users.size() == 1 && fallback != false && !(fallback.is_string() && fallback.get<std::string>().empty()) &&
        !(fallback.is_object() && fallback.empty())) {
      help += " (default " + (fallback.is_string() ? fallback.get<std::string>() : fallback.dump()) + ")";
    }
    CLI::Option* option = nullptr;
    if (first.type == OptionType::boolean) {
      // A switch: --name means true; --name=false (or --name false) turns it off.
      option = sub.add_option("--" + flag, flags.values[flag], help)
                   ->expected(0, 1)
                   ->default_str("true")
                   ->option_text("[=false]")
                   ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
    } else {
      option = sub.add_option("--" + flag, flags.values[flag], help)->type_name(option_kind(first));
      if (first.type != OptionType::integers) option->expected(1)->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
    }
    flags.options[flag] = option;
  }
}

nlohmann::json parse_option_flags(const OptionSchema& schema, const OptionFlags& flags, const std::string& hint) {
  auto options = nlohmann::json::object();
  for (const auto& [flag, option] : flags.options) {
    if (option->count() == 0) continue;
    const auto& specs = schema.specs();
    auto spec = std::find_if(specs.begin(), specs.end(), [&flag = flag](const auto& s) { return flag_name(s) == flag; });
    if (spec == specs.end()) {
      WMARK_CHECK(hint.empty(), "--", flag, " is not an option of ", schema.component(), hint);
      continue;
    }
    options[spec->name] = schema.parse_flag(spec->name, flags.values.at(flag));
  }
  return options;
}

}  // namespace wmark::cli
