// Internal: what the V2 and V1 codecs share: protocol errors, bounded JSON parsing,
// field access and tensor <-> JSON conversion with every size checked first.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include "wmark/protocol/inference_protocol.h"

namespace wmark::protocol::internal {

using json = nlohmann::json;

constexpr int kMaxDims = 8;      ///< dimensions of a protocol shape
constexpr int kMaxNesting = 16;  ///< nesting of a tensor's JSON data

[[noreturn]] inline void malformed(const std::string& message) { throw ProtocolError(400, message); }
[[noreturn]] inline void too_large(const std::string& message) { throw ProtocolError(413, message); }

template <typename... Args>
std::string cat(const Args&... args) {
  return detail::str_cat(args...);
}

/// `text` parsed as a JSON object after check_json_limits(); `what` names it in errors.
json object_or_throw(std::string_view text, const char* what, const DecodeLimits& limits);
/// The member `key` of `object`, or null.
const json* member(const json& object, const char* key);
/// The string member `key` ("" when absent); 400 when it is not a string.
std::string optional_string(const json& object, const char* key, const std::string& what);
/// 400 quoting (the first 300 characters of) an answer's "error" member, if it has one.
void refuse_error_answer(const json& document);
/// A protocol shape: at most kMaxDims non-negative integers within the element limit.
std::vector<std::int64_t> read_shape(const json& shape, const std::string& what, const DecodeLimits& limits);
/// The JSON `data` of a tensor, flat or nested, as a tensor of `dims` and `type`.
at::Tensor tensor_from_json(const json& data, const std::vector<std::int64_t>& dims, c10::ScalarType type,
                            const std::string& what);

}  // namespace wmark::protocol::internal
