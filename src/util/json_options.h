// Internal helper for registries whose factories take JSON options.
#pragma once

#include <initializer_list>
#include <string>

#include <nlohmann/json.hpp>

#include "wmark/util/error.h"

namespace wmark {

/// Refuses option keys a component does not know, so a typo is not silently ignored.
inline void check_option_keys(const nlohmann::json& options, const std::string& component,
                              std::initializer_list<const char*> known) {
  WMARK_CHECK(options.is_object(), component, " options must be a JSON object");
  for (const auto& item : options.items()) {
    bool found = false;
    for (const char* k : known) found = found || item.key() == k;
    std::string list;
    for (const char* k : known) list += (list.empty() ? "" : ", ") + std::string(k);
    WMARK_CHECK(found, "unknown option '", item.key(), "' for ", component, "; known: ", list);
  }
}

}  // namespace wmark
