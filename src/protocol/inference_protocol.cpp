#include "wmark/protocol/inference_protocol.h"
#include "wmark/util/json_limits.h"

#include <cmath>
#include <cstring>
#include <limits>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

namespace wmark::protocol {
namespace {

using json = nlohmann::json;

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "binary tensor data is little-endian");

constexpr int kMaxDims = 8;
constexpr int kMaxNesting = 16;

[[noreturn]] void malformed(const std::string& message) { throw ProtocolError(400, message); }
[[noreturn]] void too_large(const std::string& message) { throw ProtocolError(413, message); }

template <typename... Args>
std::string cat(const Args&... args) {
  return detail::str_cat(args...);
}

}  // namespace

// Before nlohmann builds a tree: the nesting depth (a deep tree would overflow the
// stack of every recursive walk over it) and the number of values (the tree costs ~16
// bytes a value, eight times a body of "0,0,...").
void check_json_limits(std::string_view text, const DecodeLimits& limits, const char* what) {
  const auto scan = scan_json(text, limits.max_json_depth, limits.max_json_values);
  if (scan.too_deep) malformed(cat("the ", what, " is nested deeper than ", limits.max_json_depth, " levels"));
  if (scan.too_many) too_large(cat("the ", what, " holds more than ", limits.max_json_values, " JSON values"));
}

namespace {

json parse_json(std::string_view text, const char* what, const DecodeLimits& limits) {
  check_json_limits(text, limits, what);
  auto document = json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (document.is_discarded()) malformed(cat("malformed JSON in the ", what));
  return document;
}

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

json tensor_to_json(const at::Tensor& tensor) {
  const auto t = tensor.contiguous();
  const auto n = t.numel();
  json data = json::array();
  auto& array = data.get_ref<json::array_t&>();
  array.reserve(static_cast<std::size_t>(n));
  switch (t.scalar_type()) {
    case at::kFloat: for (auto* p = t.data_ptr<float>(); p != t.data_ptr<float>() + n; ++p) array.emplace_back(*p); break;
    case at::kDouble: for (auto* p = t.data_ptr<double>(); p != t.data_ptr<double>() + n; ++p) array.emplace_back(*p); break;
    case at::kByte: for (auto* p = t.data_ptr<std::uint8_t>(); p != t.data_ptr<std::uint8_t>() + n; ++p) array.emplace_back(*p); break;
    case at::kChar: for (auto* p = t.data_ptr<std::int8_t>(); p != t.data_ptr<std::int8_t>() + n; ++p) array.emplace_back(*p); break;
    case at::kShort: for (auto* p = t.data_ptr<std::int16_t>(); p != t.data_ptr<std::int16_t>() + n; ++p) array.emplace_back(*p); break;
    case at::kInt: for (auto* p = t.data_ptr<std::int32_t>(); p != t.data_ptr<std::int32_t>() + n; ++p) array.emplace_back(*p); break;
    case at::kLong: for (auto* p = t.data_ptr<std::int64_t>(); p != t.data_ptr<std::int64_t>() + n; ++p) array.emplace_back(*p); break;
    case at::kBool: for (auto* p = t.data_ptr<bool>(); p != t.data_ptr<bool>() + n; ++p) array.emplace_back(*p); break;
    default: malformed(cat("cannot encode a ", t.scalar_type(), " tensor"));
  }
  return data;
}

// The JSON of one tensor; binary ones get a binary_data_size and their bytes appended.
json encode_tensor(const NamedTensor& tensor, std::string& binary) {
  WMARK_CHECK(tensor.data.defined() && tensor.data.device().is_cpu(), "tensor '", tensor.name,
              "' must be a defined CPU tensor");
  json entry = {{"name", tensor.name},
                {"shape", tensor.data.sizes().vec()},
                {"datatype", datatype_name(tensor.data.scalar_type())}};
  if (tensor.binary) {
    const auto t = tensor.data.contiguous();
    const auto nbytes = static_cast<std::size_t>(t.numel()) * t.element_size();
    binary.append(static_cast<const char*>(t.data_ptr()), nbytes);
    entry["parameters"] = {{"binary_data_size", nbytes}};
  } else {
    entry["data"] = tensor_to_json(tensor.data);
  }
  return entry;
}

// Reads the binary data after the JSON part in order; checks every size against it.
class BinaryCursor {
 public:
  explicit BinaryCursor(std::string_view rest) : rest_(rest) {}
  at::Tensor take(std::int64_t nbytes, const std::vector<std::int64_t>& dims, c10::ScalarType type,
                  const std::string& what) {
    const auto expected = static_cast<std::int64_t>(c10::elementSize(type)) * c10::multiply_integers(dims);
    if (nbytes != expected)
      malformed(cat(what, ": binary_data_size ", nbytes, " but shape ", json(dims).dump(), " of ", datatype_name(type),
                    " needs ", expected, " bytes"));
    if (static_cast<std::size_t>(nbytes) > rest_.size() - used_)
      malformed(cat(what, ": binary_data_size ", nbytes, " runs past the end of the body"));
    auto tensor = at::empty(dims, at::TensorOptions().dtype(type));
    if (nbytes > 0) std::memcpy(tensor.data_ptr(), rest_.data() + used_, static_cast<std::size_t>(nbytes));
    used_ += static_cast<std::size_t>(nbytes);
    return tensor;
  }
  void finish() const {
    if (used_ != rest_.size())
      malformed(cat(rest_.size() - used_, " bytes of binary data after the JSON belong to no tensor"));
  }

 private:
  std::string_view rest_;
  std::size_t used_ = 0;
};

// Splits a body into its JSON part and the binary data after it.
std::pair<std::string_view, std::string_view> split_body(const Body& body) {
  std::string_view all(body.bytes);
  if (!body.json_length) return {all, {}};
  if (*body.json_length > all.size())
    malformed(cat(kInferenceHeaderContentLength, " ", *body.json_length, " exceeds the body's ", all.size(), " bytes"));
  return {all.substr(0, *body.json_length), all.substr(*body.json_length)};
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

// The tensors of a request's "inputs" or a response's "outputs".
std::vector<NamedTensor> decode_tensors(const json& list, const char* field, BinaryCursor& binary,
                                        const DecodeLimits& limits) {
  if (!list.is_array() || list.empty()) malformed(cat("\"", field, "\" must be a non-empty array"));
  if (static_cast<std::int64_t>(list.size()) > limits.max_tensors)
    too_large(cat("\"", field, "\" holds ", list.size(), " tensors; at most ", limits.max_tensors));
  std::vector<NamedTensor> tensors;
  for (std::size_t i = 0; i < list.size(); ++i) {
    const auto& entry = list[i];
    std::string what = cat(field, "[", i, "]");
    if (!entry.is_object()) malformed(what + " must be an object");
    const auto* name = member(entry, "name");
    if (!name || !name->is_string()) malformed(what + ": \"name\" must be a string");
    const auto* datatype = member(entry, "datatype");
    if (!datatype || !datatype->is_string()) malformed(what + ": \"datatype\" must be a string");
    const auto type = datatype_from_name(datatype->get<std::string>());
    const auto* shape = member(entry, "shape");
    if (!shape) malformed(what + ": \"shape\" is missing");
    const auto dims = read_shape(*shape, what, limits);

    const auto* parameters = member(entry, "parameters");
    if (parameters && !parameters->is_object()) malformed(what + ": \"parameters\" must be an object");
    const json* binary_size = parameters ? member(*parameters, "binary_data_size") : nullptr;
    const auto* data = member(entry, "data");
    NamedTensor tensor;
    tensor.name = name->get<std::string>();
    if (binary_size) {
      if (data) malformed(what + ": has both \"data\" and binary_data_size");
      if (!binary_size->is_number_integer() || binary_size->get<std::int64_t>() < 0)
        malformed(what + ": binary_data_size must be a non-negative integer");
      tensor.data = binary.take(binary_size->get<std::int64_t>(), dims, type, what);
      tensor.binary = true;
    } else {
      if (!data) malformed(what + ": \"data\" is missing");
      tensor.data = tensor_from_json(*data, dims, type, what);
    }
    tensors.push_back(std::move(tensor));
  }
  return tensors;
}

// The JSON, then the binary tensor data (if any) with the JSON's length recorded.
Body make_body(const json& document, const std::string& binary) {
  Body body{document.dump(), std::nullopt};
  if (!binary.empty()) {
    body.json_length = body.bytes.size();
    body.bytes += binary;
  }
  return body;
}

json object_or_throw(std::string_view text, const char* what, const DecodeLimits& limits) {
  auto document = parse_json(text, what, limits);
  if (!document.is_object()) malformed(cat("the ", what, " must be a JSON object"));
  return document;
}

}  // namespace

std::string Body::content_type() const { return json_length ? "application/octet-stream" : "application/json"; }

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

Body encode_infer_request(const InferRequest& request) {
  json document = json::object();
  if (!request.id.empty()) document["id"] = request.id;
  if (request.binary_output) document["parameters"] = {{"binary_data_output", true}};
  std::string binary;
  document["inputs"] = json::array();
  for (const auto& input : request.inputs) document["inputs"].push_back(encode_tensor(input, binary));
  if (!request.outputs.empty()) {
    document["outputs"] = json::array();
    for (const auto& output : request.outputs) {
      json entry = {{"name", output.name}};
      if (output.binary) entry["parameters"] = {{"binary_data", true}};
      document["outputs"].push_back(entry);
    }
  }
  return make_body(document, binary);
}

InferRequest decode_infer_request(const Body& body, const DecodeLimits& limits) {
  const auto [json_part, rest] = split_body(body);
  const auto document = object_or_throw(json_part, "infer request", limits);
  BinaryCursor binary(rest);
  InferRequest request;
  request.id = optional_string(document, "id", "infer request");
  if (const auto* parameters = member(document, "parameters")) {
    if (!parameters->is_object()) malformed("infer request: \"parameters\" must be an object");
    if (const auto* flag = member(*parameters, "binary_data_output")) {
      if (!flag->is_boolean()) malformed("infer request: binary_data_output must be a boolean");
      request.binary_output = flag->get<bool>();
    }
  }
  const auto* inputs = member(document, "inputs");
  if (!inputs) malformed("infer request: \"inputs\" is missing");
  request.inputs = decode_tensors(*inputs, "inputs", binary, limits);
  binary.finish();
  if (const auto* outputs = member(document, "outputs")) {
    if (!outputs->is_array()) malformed("infer request: \"outputs\" must be an array");
    if (static_cast<std::int64_t>(outputs->size()) > limits.max_tensors) too_large("infer request: too many outputs");
    for (const auto& entry : *outputs) {
      if (!entry.is_object()) malformed("infer request: each output must be an object");
      const auto* name = member(entry, "name");
      if (!name || !name->is_string()) malformed("infer request: each output needs a \"name\" string");
      RequestedOutput output{name->get<std::string>(), request.binary_output};
      if (const auto* parameters = member(entry, "parameters")) {
        if (!parameters->is_object()) malformed("infer request: output \"parameters\" must be an object");
        if (const auto* flag = member(*parameters, "binary_data")) {
          if (!flag->is_boolean()) malformed("infer request: binary_data must be a boolean");
          output.binary = flag->get<bool>();
        }
      }
      request.outputs.push_back(std::move(output));
    }
  }
  return request;
}

Body encode_infer_response(const InferResponse& response) {
  json document = {{"model_name", response.model_name}, {"outputs", json::array()}};
  if (!response.model_version.empty()) document["model_version"] = response.model_version;
  if (!response.id.empty()) document["id"] = response.id;
  std::string binary;
  for (const auto& output : response.outputs) document["outputs"].push_back(encode_tensor(output, binary));
  return make_body(document, binary);
}

InferResponse decode_infer_response(const Body& body, const DecodeLimits& limits) {
  const auto [json_part, rest] = split_body(body);
  const auto document = object_or_throw(json_part, "infer response", limits);
  if (const auto* error = member(document, "error"))
    malformed(cat("the server answered with an error: ", error->is_string() ? error->get<std::string>().substr(0, 300) : "(not a string)"));
  BinaryCursor binary(rest);
  InferResponse response;
  response.model_name = optional_string(document, "model_name", "infer response");
  response.model_version = optional_string(document, "model_version", "infer response");
  response.id = optional_string(document, "id", "infer response");
  const auto* outputs = member(document, "outputs");
  if (!outputs) malformed("infer response: \"outputs\" is missing");
  response.outputs = decode_tensors(*outputs, "outputs", binary, limits);
  binary.finish();
  return response;
}

std::string encode_v1_request(const at::Tensor& batch) {
  WMARK_CHECK(batch.dim() >= 1 && batch.device().is_cpu(), "a V1 request needs a CPU batch [N, ...]");
  const auto n = batch.size(0);
  json instances = json::array();
  const auto sample_dims = batch.sizes().slice(1).vec();
  for (std::int64_t i = 0; i < n; ++i) {
    // Nested as the sample's shape: build from the innermost dimension outwards.
    json level = tensor_to_json(batch[i]);
    for (auto d = static_cast<std::int64_t>(sample_dims.size()) - 1; d >= 1; --d) {
      const auto width = static_cast<std::size_t>(sample_dims[d]);
      json grouped = json::array();
      for (std::size_t start = 0; start < level.size(); start += width) {
        grouped.push_back(json(level.begin() + static_cast<std::ptrdiff_t>(start),
                               level.begin() + static_cast<std::ptrdiff_t>(start + width)));
      }
      level = std::move(grouped);
    }
    instances.push_back(std::move(level));
  }
  return json{{"instances", std::move(instances)}}.dump();
}

namespace {

// The shape of a nested array, read along its first elements.
std::vector<std::int64_t> nested_shape(const json& value) {
  std::vector<std::int64_t> dims;
  const json* level = &value;
  while (level->is_array()) {
    if (static_cast<int>(dims.size()) >= kMaxNesting) malformed("V1 instance is nested too deeply");
    dims.push_back(static_cast<std::int64_t>(level->size()));
    if (level->empty()) break;
    level = &(*level)[0];
  }
  return dims;
}

// Checks that `value` is exactly nested as `dims` with numeric leaves, appending them.
void read_instance(const json& value, const std::vector<std::int64_t>& dims, std::size_t depth, float*& out) {
  if (depth == dims.size()) {
    if (!value.is_number()) malformed("V1 instances must hold numbers");
    *out++ = static_cast<float>(value.get<double>());
    return;
  }
  if (!value.is_array() || static_cast<std::int64_t>(value.size()) != dims[depth])
    malformed(cat("V1 instances must all have the shape ", json(dims).dump()));
  for (const auto& item : value) read_instance(item, dims, depth + 1, out);
}

// A named-input object with one member stands for its value ({"input": [...]}).
const json& unwrap_single_input(const json& value) {
  if (value.is_object()) {
    if (value.size() != 1) malformed("V1 instances with named inputs must name exactly one input");
    return value.begin().value();
  }
  return value;
}

std::int64_t argmax_of(const json& scores) {
  if (!scores.is_array() || scores.empty()) malformed("V1 prediction scores must be a non-empty array of numbers");
  std::int64_t best = 0;
  double best_value = -std::numeric_limits<double>::infinity();
  for (std::size_t i = 0; i < scores.size(); ++i) {
    if (!scores[i].is_number()) malformed("V1 prediction scores must be numbers");
    const double v = scores[i].get<double>();
    if (v > best_value || i == 0) {
      best_value = v;
      best = static_cast<std::int64_t>(i);
    }
  }
  return best;
}

std::int64_t label_of(const json& value) {
  if (value.is_array() && value.size() == 1 && value[0].is_number_integer()) return value[0].get<std::int64_t>();
  if (!value.is_number_integer()) malformed("a V1 predicted label must be an integer");
  return value.get<std::int64_t>();
}

}  // namespace

at::Tensor decode_v1_request(std::string_view body, const DecodeLimits& limits) {
  const auto document = object_or_throw(body, "V1 request", limits);
  const json* list = member(document, "instances");
  if (!list) list = member(document, "inputs");
  if (!list) malformed("V1 request: \"instances\" is missing");
  const json& instances = unwrap_single_input(*list);
  if (!instances.is_array() || instances.empty()) malformed("V1 request: \"instances\" must be a non-empty array");
  const auto n = static_cast<std::int64_t>(instances.size());
  const auto dims = nested_shape(unwrap_single_input(instances[0]));
  std::int64_t per_sample = 1;
  for (auto d : dims) {
    if (d > 0 && per_sample > limits.max_elements / d) too_large("V1 request exceeds the element limit");
    per_sample *= d;
  }
  if (per_sample > 0 && n > limits.max_elements / per_sample) too_large("V1 request exceeds the element limit");
  std::vector<std::int64_t> batch_dims{n};
  batch_dims.insert(batch_dims.end(), dims.begin(), dims.end());
  auto batch = at::empty(batch_dims, at::TensorOptions().dtype(at::kFloat));
  float* out = batch.data_ptr<float>();
  for (const auto& instance : instances) read_instance(unwrap_single_input(instance), dims, 0, out);
  return batch;
}

std::string encode_v1_response(const at::Tensor& scores, const at::Tensor& labels) {
  WMARK_CHECK(scores.dim() == 2 && labels.dim() == 1 && scores.size(0) == labels.size(0),
              "V1 response needs scores [N,C] and labels [N]");
  json predictions = json::array();
  const auto s = scores.to(at::kFloat).contiguous();
  const auto l = labels.to(at::kLong).contiguous();
  for (std::int64_t i = 0; i < s.size(0); ++i) {
    predictions.push_back({{"scores", tensor_to_json(s[i])}, {"label", l.data_ptr<std::int64_t>()[i]}});
  }
  return json{{"predictions", std::move(predictions)}}.dump();
}

at::Tensor decode_v1_predictions(std::string_view body, const DecodeLimits& limits) {
  const auto document = object_or_throw(body, "V1 response", limits);
  if (const auto* error = member(document, "error"))
    malformed(cat("the server answered with an error: ", error->is_string() ? error->get<std::string>().substr(0, 300) : "(not a string)"));
  const auto* predictions = member(document, "predictions");
  if (!predictions) predictions = member(document, "outputs");
  if (!predictions || !predictions->is_array()) malformed("V1 response: \"predictions\" must be an array");
  auto labels = at::empty({static_cast<std::int64_t>(predictions->size())}, at::TensorOptions().dtype(at::kLong));
  auto* out = labels.data_ptr<std::int64_t>();
  for (const auto& prediction : *predictions) {
    if (prediction.is_object()) {
      const json* found = nullptr;
      for (const char* key : {"label", "class", "classes"}) {
        if ((found = member(prediction, key))) break;
      }
      if (found) {
        *out++ = label_of(*found);
        continue;
      }
      for (const char* key : {"scores", "probabilities", "logits"}) {
        if ((found = member(prediction, key))) break;
      }
      if (!found) malformed("V1 prediction object has no label, class, scores, probabilities or logits");
      *out++ = argmax_of(*found);
    } else if (prediction.is_array()) {
      *out++ = argmax_of(prediction);
    } else {
      *out++ = label_of(prediction);
    }
  }
  return labels;
}

// Invalid UTF-8 (a message cut inside a character) is replaced, never thrown.
std::string error_body(const std::string& message) {
  return json{{"error", message}}.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace wmark::protocol
