#include "tensor_text.h"

#include <algorithm>
#include <charconv>
#include <cmath>

#include <nlohmann/json.hpp>

#include "wmark/protocol/inference_protocol.h"
#include "wmark/util/error.h"

namespace wmark::protocol::internal {
namespace {

// Integers, through int so that the 8-bit types print as numbers, not characters.
template <typename T>
void append_number(std::string& out, T value) {
  char buffer[24];
  const auto end = std::to_chars(buffer, buffer + sizeof buffer, static_cast<std::int64_t>(value)).ptr;
  out.append(buffer, end);
}

void append_number(std::string& out, bool value) { out += value ? "true" : "false"; }

// A decimal as a floating-point token: "-0" would read as the integer 0 (losing the
// sign) and "18446744073709551616" as an integer too large for a reader, so a point is
// added to a decimal written without one.
void append_decimal(std::string& out, const char* begin, const char* end) {
  out.append(begin, end);
  if (std::find_if(begin, end, [](char c) { return c == '.' || c == 'e'; }) == end) out += ".0";
}

void append_number(std::string& out, double value) {
  if (!std::isfinite(value)) {
    out += "null";
    return;
  }
  char buffer[32];
  append_decimal(out, buffer, std::to_chars(buffer, buffer + sizeof buffer, value).ptr);
}

// Readers (nlohmann, simdjson, Python's json) parse a number as a double; the float's
// shortest decimal is kept only if that double narrows back to the float (it always has
// in tests, but the check is cheap and makes it a guarantee), else the float's exact value.
void append_number(std::string& out, float value) {
  if (!std::isfinite(value)) {
    out += "null";
    return;
  }
  char buffer[32];
  const auto end = std::to_chars(buffer, buffer + sizeof buffer, value).ptr;
  double read = 0;
  std::from_chars(buffer, end, read);
  if (static_cast<float>(read) == value) {
    append_decimal(out, buffer, end);
  } else {
    append_number(out, static_cast<double>(value));
  }
}

// `data[0..n)` nested as `dims`: before element i, a "],[" for every dimension whose
// block (product of the dimensions after it) i starts.
template <typename T>
void append_values(std::string& out, const T* data, std::int64_t n, const std::vector<std::int64_t>& dims) {
  std::vector<std::int64_t> blocks;  // the inner dimensions' block sizes, outermost first
  for (std::size_t d = 1; d < dims.size(); ++d) {
    std::int64_t block = 1;
    for (std::size_t e = d; e < dims.size(); ++e) block *= dims[e];
    blocks.push_back(block);
  }
  const auto depth = blocks.size() + 1;
  out.append(depth, '[');
  for (std::int64_t i = 0; i < n; ++i) {
    if (i > 0) {
      std::size_t closing = 0;
      for (const auto block : blocks) closing += i % block == 0 ? 1 : 0;
      out.append(closing, ']');
      out += ',';
      out.append(closing, '[');
    }
    append_number(out, data[i]);
  }
  out.append(depth, ']');
}

}  // namespace

void append_json_array(std::string& out, const at::Tensor& tensor, const std::vector<std::int64_t>& dims) {
  const auto t = tensor.contiguous();
  const auto n = t.numel();
  if (n == 0) {
    out += "[]";
    return;
  }
  std::int64_t product = 1;
  for (const auto d : dims) product *= d;
  WMARK_CHECK(dims.size() <= 1 || product == n, "cannot nest ", n, " values as ", nlohmann::json(dims).dump());
  const auto nesting = dims.size() <= 1 ? std::vector<std::int64_t>{n} : dims;
  out.reserve(out.size() + static_cast<std::size_t>(n) * 12);
  switch (t.scalar_type()) {
    case at::kFloat: append_values(out, t.data_ptr<float>(), n, nesting); break;
    case at::kDouble: append_values(out, t.data_ptr<double>(), n, nesting); break;
    case at::kByte: append_values(out, t.data_ptr<std::uint8_t>(), n, nesting); break;
    case at::kChar: append_values(out, t.data_ptr<std::int8_t>(), n, nesting); break;
    case at::kShort: append_values(out, t.data_ptr<std::int16_t>(), n, nesting); break;
    case at::kInt: append_values(out, t.data_ptr<std::int32_t>(), n, nesting); break;
    case at::kLong: append_values(out, t.data_ptr<std::int64_t>(), n, nesting); break;
    case at::kBool: append_values(out, t.data_ptr<bool>(), n, nesting); break;
    default: throw ProtocolError(400, "cannot encode a " + std::string(c10::toString(t.scalar_type())) + " tensor");
  }
}

std::string with_member(std::string object, const char* key, const std::string& value) {
  WMARK_CHECK(object.size() >= 2 && object.front() == '{' && object.back() == '}', "not the JSON text of an object");
  object.pop_back();
  if (object.size() > 1) object += ',';
  object += nlohmann::json(key).dump();
  object += ':';
  object += value;
  object += '}';
  return object;
}

}  // namespace wmark::protocol::internal
