/// \file
/// A scheme named with its options (watermark/scheme.h resolves names to them).
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace wmark {

/// A scheme name and its options, as a config or the command line names them.
struct SchemeChoice {
  std::string scheme;                                  ///< registry name
  nlohmann::json options = nlohmann::json::object();   ///< its options
};

}  // namespace wmark
