#include "wmark/util/json_limits.h"

#include "wmark/util/error.h"

namespace wmark {

// Counting brackets outside strings is enough: nlohmann's parser rejects anything
// unbalanced or malformed afterwards, but would recurse on depth when the document is
// copied, compared or dumped.
JsonScan scan_json(std::string_view text, long long max_depth, long long max_values) {
  JsonScan scan;
  long long depth = 0, values = 0;
  bool in_string = false, escaped = false, in_scalar = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    scan.at = i;
    if (in_string) {
      if (escaped) escaped = false;
      else if (c == '\\') escaped = true;
      else if (c == '"') in_string = false;
      continue;
    }
    switch (c) {
      case '"': in_string = true; ++values; in_scalar = false; break;
      case '[': case '{':
        if (++depth > max_depth) {
          scan.too_deep = true;
          return scan;
        }
        ++values;
        in_scalar = false;
        break;
      case ']': case '}': depth = depth > 0 ? depth - 1 : 0; in_scalar = false; break;
      case ',': case ':': case ' ': case '\t': case '\n': case '\r': in_scalar = false; break;
      default:
        if (!in_scalar) ++values;
        in_scalar = true;
    }
    if (values > max_values) {
      scan.too_many = true;
      return scan;
    }
  }
  return scan;
}

void check_json_nesting(std::string_view text, int max_depth, const std::string& what) {
  const auto scan = scan_json(text, max_depth, static_cast<long long>(text.size()) + 1);
  WMARK_CHECK(!scan.too_deep, what, ": JSON nested deeper than ", max_depth, " levels (at byte ", scan.at,
              "); refusing to parse it");
}

}  // namespace wmark
