// Internal string predicates C++17's std::string lacks (C++20 has them as members).
#pragma once

#include <string_view>

namespace wmark {

inline bool starts_with(std::string_view text, std::string_view prefix) {
  return text.substr(0, prefix.size()) == prefix;
}

inline bool ends_with(std::string_view text, std::string_view suffix) {
  return text.size() >= suffix.size() && text.substr(text.size() - suffix.size()) == suffix;
}

}  // namespace wmark
