/// \file
/// The library's logger: spdlog, on stderr, so that stdout stays the applications'.
#pragma once

#include <memory>
#include <string>

#include "wmark/util/export.h"

namespace spdlog {
class logger;
}

namespace wmark {

/// The "wmark" spdlog logger, created on first use (writes to stderr). It is looked up
/// by name, so an application may register its own "wmark" logger before first use.
WMARK_API std::shared_ptr<spdlog::logger> logger();

/// Sets the log level by name: trace, debug, info, warn, error, off. Throws
/// wmark::Error for any other name.
WMARK_API void set_log_level(const std::string& level);

}  // namespace wmark
