// Tensor <-> JSON and bounded JSON parsing, shared by the V2 and V1 codecs.
#include <limits>

#include "json_reader.h"
#include "protocol_json.h"
#include "wmark/util/json_limits.h"

namespace wmark::protocol {

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "binary tensor data is little-endian");

using namespace internal;

// Before nlohmann builds a tree: the nesting depth (a deep tree would overflow the
// stack of every recursive walk over it) and the number of values (the tree costs ~16
// bytes a value, eight times a body of "0,0,...").
void check_json_limits(std::string_view text, const DecodeLimits& limits, const char* what) {
  const auto scan = scan_json(text, limits.max_json_depth, limits.max_json_values);
  if (scan.too_deep) malformed(cat("the ", what, " is nested deeper than ", limits.max_json_depth, " levels"));
  if (scan.too_many) too_large(cat("the ", what, " holds more than ", limits.max_json_values, " JSON values"));
}

std::string datatype_name(c10::ScalarType type) {
  switch (type) {
    case at::kBool: return "BOOL";
    case at::kByte: return "UINT8";
    case at::kChar: return "INT8";
    case at::kShort: return "INT16";
    case at::kInt: return "INT32";
    case at::kLong: return "INT64";
    case at::kFloat: return "FP32";
    case at::kDouble: return "FP64";
    default: malformed(cat("no protocol datatype for ", type));
  }
}

c10::ScalarType datatype_from_name(const std::string& name) {
  static const std::pair<const char*, c10::ScalarType> table[] = {
      {"BOOL", at::kBool},   {"UINT8", at::kByte}, {"INT8", at::kChar},  {"INT16", at::kShort},
      {"INT32", at::kInt},   {"INT64", at::kLong}, {"FP32", at::kFloat}, {"FP64", at::kDouble}};
  for (const auto& [text, type] : table) {
    if (name == text) return type;
  }
  malformed("unsupported datatype; supported: BOOL, UINT8, INT8, INT16, INT32, INT64, FP32, FP64");
}

// Invalid UTF-8 (a message cut inside a character) is replaced, never thrown.
std::string error_body(const std::string& message) {
  return json{{"error", message}}.dump(-1, ' ', false, json::error_handler_t::replace);
}

namespace internal {
namespace {

json parse_json(std::string_view text, const char* what, const DecodeLimits& limits) {
  check_json_limits(text, limits, what);
  std::string error;
  auto document = read_json(text, error);
  if (!error.empty()) malformed(cat("malformed JSON in the ", what, ": ", error));
  return document;
}

// Depth-first leaves of a (possibly nested) JSON array, at most `max_count` of them.
void flatten(const json& value, std::vector<const json*>& leaves, std::size_t max_count, int depth,
             const std::string& what) {
  if (depth > kMaxNesting) malformed(what + ": data is nested too deeply");
  if (!value.is_array()) {
    if (leaves.size() >= max_count) malformed(what + ": data holds more elements than its shape");
    leaves.push_back(&value);
    return;
  }
  for (const auto& item : value) flatten(item, leaves, max_count, depth + 1, what);
}

template <typename T>
void fill_integers(const std::vector<const json*>& leaves, T* out, const std::string& what) {
  for (std::size_t i = 0; i < leaves.size(); ++i) {
    const auto& v = *leaves[i];
    if (v.is_number_unsigned()) {
      const auto x = v.get<std::uint64_t>();
      if (x > static_cast<std::uint64_t>(std::numeric_limits<T>::max())) malformed(what + ": value out of range of its datatype");
      out[i] = static_cast<T>(x);
    } else if (v.is_number_integer()) {
      const auto x = v.get<std::int64_t>();
      if (x < static_cast<std::int64_t>(std::numeric_limits<T>::min()) ||
          (x > 0 && static_cast<std::uint64_t>(x) > static_cast<std::uint64_t>(std::numeric_limits<T>::max())))
        malformed(what + ": value out of range of its datatype");
      out[i] = static_cast<T>(x);
    } else {
      malformed(what + ": integer datatype with a non-integer value");
    }
  }
}

template <typename T>
void fill_floats(const std::vector<const json*>& leaves, T* out, const std::string& what) {
  for (std::size_t i = 0; i < leaves.size(); ++i) {
    const auto& v = *leaves[i];
    if (!v.is_number()) malformed(what + ": floating-point datatype with a non-numeric value");
    out[i] = static_cast<T>(v.get<double>());
  }
}

}  // namespace

// A protocol shape: at most kMaxDims non-negative integers whose product stays within
// the limit (checked before anything is allocated).
std::vector<std::int64_t> read_shape(const json& shape, const std::string& what, const DecodeLimits& limits) {
  if (!shape.is_array()) malformed(what + ": \"shape\" must be an array of integers");
  if (shape.size() > kMaxDims) malformed(cat(what, ": shape has ", shape.size(), " dimensions; at most ", kMaxDims));
  std::vector<std::int64_t> dims;
  std::int64_t numel = 1;
  for (const auto& d : shape) {
    if (!d.is_number_integer() || d.get<std::int64_t>() < 0)
      malformed(what + ": \"shape\" must hold non-negative integers");
    const auto n = d.get<std::int64_t>();
    if (n > 0 && numel > limits.max_elements / n) too_large(cat(what, ": shape exceeds ", limits.max_elements, " elements"));
    numel *= n;
    dims.push_back(n);
  }
  if (numel > limits.max_elements) too_large(cat(what, ": shape exceeds ", limits.max_elements, " elements"));
  return dims;
}

// The JSON `data` of a tensor, flat or nested, as a tensor of `dims` and `type`.
at::Tensor tensor_from_json(const json& data, const std::vector<std::int64_t>& dims, c10::ScalarType type,
                            const std::string& what) {
  // Count the elements before allocating: the shape alone must not size the buffer.
  const auto numel = static_cast<std::size_t>(c10::multiply_integers(dims));
  std::vector<const json*> leaves;
  flatten(data, leaves, numel, 0, what);
  if (leaves.size() != numel)
    malformed(cat(what, ": shape ", json(dims).dump(), " holds ", numel, " elements but data has ", leaves.size()));
  auto tensor = at::empty(dims, at::TensorOptions().dtype(type));
  switch (type) {
    case at::kFloat: fill_floats(leaves, tensor.data_ptr<float>(), what); break;
    case at::kDouble: fill_floats(leaves, tensor.data_ptr<double>(), what); break;
    case at::kByte: fill_integers(leaves, tensor.data_ptr<std::uint8_t>(), what); break;
    case at::kChar: fill_integers(leaves, tensor.data_ptr<std::int8_t>(), what); break;
    case at::kShort: fill_integers(leaves, tensor.data_ptr<std::int16_t>(), what); break;
    case at::kInt: fill_integers(leaves, tensor.data_ptr<std::int32_t>(), what); break;
    case at::kLong: fill_integers(leaves, tensor.data_ptr<std::int64_t>(), what); break;
    case at::kBool: {
      auto* out = tensor.data_ptr<bool>();
      for (std::size_t i = 0; i < numel; ++i) {
        if (!leaves[i]->is_boolean()) malformed(what + ": BOOL datatype with a non-boolean value");
        out[i] = leaves[i]->get<bool>();
      }
      break;
    }
    default: malformed(what + ": unsupported datatype");
  }
  return tensor;
}

const json* member(const json& object, const char* key) {
  auto it = object.find(key);
  return it == object.end() ? nullptr : &*it;
}

std::string optional_string(const json& object, const char* key, const std::string& what) {
  const auto* value = member(object, key);
  if (!value) return {};
  if (!value->is_string()) malformed(cat(what, ": \"", key, "\" must be a string"));
  return value->get<std::string>();
}

json object_or_throw(std::string_view text, const char* what, const DecodeLimits& limits) {
  auto document = parse_json(text, what, limits);
  if (!document.is_object()) malformed(cat("the ", what, " must be a JSON object"));
  return document;
}

void refuse_error_answer(const json& document) {
  if (const auto* error = member(document, "error"))
    malformed(cat("the server answered with an error: ",
                  error->is_string() ? error->get<std::string>().substr(0, 300) : "(not a string)"));
}

}  // namespace internal
}  // namespace wmark::protocol
