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

/// Throws wmark::Error naming `what` (a file name, "request body") when arrays and
/// objects in `text` nest deeper than `max_depth`. One linear pass that skips strings;
/// it does not validate the JSON otherwise (the parser does that afterwards).
WMARK_API void check_json_nesting(std::string_view text, int max_depth, const std::string& what);

}  // namespace wmark
