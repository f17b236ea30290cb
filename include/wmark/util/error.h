/// \file
/// Errors for bad input and misuse, and the WMARK_CHECK macro that raises them.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>

namespace wmark {

/// Raised for bad input or misuse; the message names the file or value and how to fix it.
class Error : public std::runtime_error {
 public:
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
}  // namespace detail

}  // namespace wmark

/// Throws wmark::Error with the concatenated message when `cond` is false.
#define WMARK_CHECK(cond, ...)                                             \
  do {                                                                     \
    if (!(cond)) throw ::wmark::Error(::wmark::detail::str_cat(__VA_ARGS__)); \
  } while (0)

/// Throws wmark::Error with the concatenated message.
#define WMARK_FAIL(...) throw ::wmark::Error(::wmark::detail::str_cat(__VA_ARGS__))
