/// \file
/// Errors for bad input and misuse, and the WMARK_CHECK macro that raises them.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>

#include "wmark/util/export.h"

/// The wmark library: datasets, models, training, watermark embedding and verification.
namespace wmark {

/// Raised for bad input or misuse; the message names the file or value and how to fix it.
/// Exported (WMARK_API) so that its type information is shared with callers.
class WMARK_API Error : public std::runtime_error {
 public:
  /// Inherits std::runtime_error's constructors: Error("message").
  using std::runtime_error::runtime_error;
};

namespace detail {
/// Concatenates anything streamable into one string.
template <typename... Args>
std::string str_cat(const Args&... args) {
  std::ostringstream os;
  (os << ... << args);
  return os.str();
}

/// The first line of an error's message, cut at `max` characters: LibTorch's messages
/// carry a backtrace after it, and a peer's may be arbitrarily long.
inline std::string first_line(const std::string& text, std::size_t max = std::string::npos) {
  auto line = text.substr(0, text.find('\n'));
  return line.size() > max ? line.substr(0, max) + "..." : line;
}
}  // namespace detail

}  // namespace wmark

/// Throws wmark::Error with the concatenated message when `cond` is false.
#define WMARK_CHECK(cond, ...)                                             \
  do {                                                                     \
    if (!(cond)) throw ::wmark::Error(::wmark::detail::str_cat(__VA_ARGS__)); \
  } while (0)

/// Throws wmark::Error with the concatenated message.
#define WMARK_FAIL(...) throw ::wmark::Error(::wmark::detail::str_cat(__VA_ARGS__))
