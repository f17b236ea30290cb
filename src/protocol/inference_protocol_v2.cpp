// Open Inference Protocol (V2) requests and responses, with the binary tensor data
// extension.
#include <cstring>

#include "protocol_json.h"
#include "tensor_text.h"

namespace wmark::protocol {

using namespace internal;

namespace {

// The JSON text of one tensor; binary ones get a binary_data_size and their bytes appended.
std::string encode_tensor(const NamedTensor& tensor, std::string& binary) {
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
    return entry.dump();
  }
  std::string data;
  append_json_array(data, tensor.data, {});
  return with_member(entry.dump(), "data", data);
}

// The JSON text of an array of tensors (see encode_tensor).
std::string encode_tensors(const std::vector<NamedTensor>& tensors, std::string& binary) {
  std::string array = "[";
  for (const auto& tensor : tensors) {
    if (array.size() > 1) array += ',';
    array += encode_tensor(tensor, binary);
  }
  return array + "]";
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
Body make_body(std::string json_text, const std::string& binary) {
  Body body{std::move(json_text), std::nullopt};
  if (!binary.empty()) {
    body.json_length = body.bytes.size();
    body.bytes += binary;
  }
  return body;
}

}  // namespace

std::string Body::content_type() const { return json_length ? "application/octet-stream" : "application/json"; }

Body encode_infer_request(const InferRequest& request) {
  json document = json::object();
  if (!request.id.empty()) document["id"] = request.id;
  if (request.binary_output) document["parameters"] = {{"binary_data_output", true}};
  if (!request.outputs.empty()) {
    document["outputs"] = json::array();
    for (const auto& output : request.outputs) {
      json entry = {{"name", output.name}};
      if (output.binary) entry["parameters"] = {{"binary_data", true}};
      document["outputs"].push_back(entry);
    }
  }
  std::string binary;
  const auto inputs = encode_tensors(request.inputs, binary);
  return make_body(with_member(document.dump(), "inputs", inputs), binary);
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
  json document = {{"model_name", response.model_name}};
  if (!response.model_version.empty()) document["model_version"] = response.model_version;
  if (!response.id.empty()) document["id"] = response.id;
  std::string binary;
  const auto outputs = encode_tensors(response.outputs, binary);
  return make_body(with_member(document.dump(), "outputs", outputs), binary);
}

InferResponse decode_infer_response(const Body& body, const DecodeLimits& limits) {
  const auto [json_part, rest] = split_body(body);
  const auto document = object_or_throw(json_part, "infer response", limits);
  refuse_error_answer(document);
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

}  // namespace wmark::protocol
