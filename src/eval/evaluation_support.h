// Internal: what the evaluation's config reader, grid and report writers share.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

#include "wmark/watermark/scheme.h"

namespace wmark::evaluation {

/// A sweep value as text: a string as is, anything else as JSON.
inline std::string value_text(const nlohmann::json& v) { return v.is_string() ? v.get<std::string>() : v.dump(); }

/// A file name for a cell: its name with '/' and '=' made safe.
std::string file_safe(std::string name);

/// A config's scheme name with its options: the config's trigger_size for every scheme
/// that has one (triggers, output keys).
SchemeChoice scheme_choice(const std::string& name, std::int64_t trigger_size);

/// A JSON file, its nesting bounded; throws wmark::Error naming the file.
nlohmann::json read_json(const std::filesystem::path& path);

}  // namespace wmark::evaluation
