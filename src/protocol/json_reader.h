// Internal: JSON text to an nlohmann::json document through simdjson, whose parser reads
// long arrays of numbers (a batch of images) about ten times as fast as nlohmann's lexer.
#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace wmark::protocol::internal {

/// `text` parsed into a document, or the parser's reason it is not valid JSON (invalid
/// UTF-8, a number out of range, a member name given twice, ...). Call only after
/// check_json_limits(): the copy into nlohmann's tree is iterative, but its size is
/// what that check bounds.
nlohmann::json read_json(std::string_view text, std::string& error);

}  // namespace wmark::protocol::internal
