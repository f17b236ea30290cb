#include "wmark/util/log.h"

#include <mutex>

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "wmark/util/error.h"

namespace wmark {

std::shared_ptr<spdlog::logger> logger() {
  // Registered under its name so an application may replace it with spdlog::register_logger.
  if (auto existing = spdlog::get("wmark")) return existing;
  // Two threads logging first at once must not both create it (spdlog refuses a second).
  static std::mutex creating;
  std::lock_guard<std::mutex> lock(creating);
  if (auto existing = spdlog::get("wmark")) return existing;
  auto created = spdlog::stderr_color_mt("wmark");
  created->set_pattern("[%H:%M:%S] [%^%l%$] %v");
  return created;
}

void set_log_level(const std::string& level) {
  auto parsed = spdlog::level::from_str(level);
  WMARK_CHECK(parsed != spdlog::level::off || level == "off", "unknown log level '", level,
              "'; use trace, debug, info, warn, error or off");
  logger()->set_level(parsed);
}

}  // namespace wmark
