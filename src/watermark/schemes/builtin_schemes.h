// Internal: the factories of the built-in schemes, one per file of this folder.
#pragma once

#include <memory>

#include <nlohmann/json.hpp>

#include "wmark/watermark/scheme.h"

namespace wmark::schemes {

std::unique_ptr<Scheme> make_trigger_set(const nlohmann::json& options);
std::unique_ptr<Scheme> make_output_keys(const nlohmann::json& options);
std::unique_ptr<Scheme> make_uchida(const nlohmann::json& options);
std::unique_ptr<Scheme> make_deepsigns(const nlohmann::json& options);

}  // namespace wmark::schemes
