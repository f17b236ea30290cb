// Internal: a tensor's elements written straight into JSON text, for the request and
// response bodies that carry images. nlohmann would build a value per element and print
// a float as the double it widens to (17-19 characters); this writes each float as its
// shortest decimal (about 10), so a batch of colour images is half the bytes to send
// and to parse, in a fraction of the time.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

namespace wmark::protocol::internal {

/// Appends the elements of the CPU tensor `tensor` as a JSON array: flat when `dims`
/// has at most one entry, else nested as `dims` (whose product must be the tensor's
/// element count); an empty tensor as []. Every value reads back exactly: a float as
/// the shortest decimal that a double-then-float reader returns unchanged, a double as
/// its shortest round-trip decimal, integers and booleans as themselves; NaN and
/// infinities, which JSON cannot hold, as null (as nlohmann writes them).
void append_json_array(std::string& out, const at::Tensor& tensor, const std::vector<std::int64_t>& dims);

/// The JSON text of `object` (the dump of an object, "{}" included) with one more member `key`
/// whose value is the JSON text `value`.
std::string with_member(std::string object, const char* key, const std::string& value);

}  // namespace wmark::protocol::internal
