#include "wmark/util/json_limits.h"

#include "wmark/util/error.h"

namespace wmark {

void check_json_nesting(std::string_view text, int max_depth, const std::string& what) {
  // Counting brackets outside strings is enough: nlohmann's parser rejects anything
  // unbalanced or malformed afterwards, but would recurse on depth when the document is
  // copied, compared or dumped.
  int depth = 0;
  bool in_string = false, escaped = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      WMARK_CHECK(++depth <= max_depth, what, ": JSON nested deeper than ", max_depth,
                  " levels (at byte ", i, "); refusing to parse it");
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
}

}  // namespace wmark
