/// \file
/// Limits for JSON read from files or the network, checked on the raw text before a
/// parser builds (and later copies, compares or dumps, all recursively) a document.
#pragma once

#include <string>
#include <string_view>

#include "wmark/util/export.h"

namespace wmark {

/// The nesting depth wmark's own JSON files stay far below (keys, claims, identities).
constexpr int kMaxJsonDepth = 64;

/// What one pass over JSON text found, stopping at the first limit passed.
struct WMARK_API JsonScan {
  bool too_deep = false;      ///< arrays and objects nest deeper than the depth limit
  bool too_many = false;      ///< more values (scalars, strings, arrays, objects) than the value limit
  std::size_t at = 0;         ///< byte offset where the scan stopped
};

/// One linear pass that skips strings, counting nesting depth and values (a parsed
/// tree costs ~16 bytes a value). It does not validate the JSON otherwise.
WMARK_API JsonScan scan_json(std::string_view text, long long max_depth, long long max_values);

/// Throws wmark::Error naming `what` (a file name, "request body") when arrays and
/// objects in `text` nest deeper than `max_depth`. One linear pass that skips strings;
/// it does not validate the JSON otherwise (the parser does that afterwards).
WMARK_API void check_json_nesting(std::string_view text, int max_depth, const std::string& what);

}  // namespace wmark
