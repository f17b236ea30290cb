/// \file
/// The library's logger: spdlog, on stderr, so that stdout stays the applications'.
#pragma once

#include <memory>
#include <string>

namespace spdlog {
class logger;
}

namespace wmark {

/// The "wmark" spdlog logger (created on first use, writes to stderr).
std::shared_ptr<spdlog::logger> logger();

/// Sets the log level by name: trace, debug, info, warn, error, off.
void set_log_level(const std::string& level);

}  // namespace wmark
