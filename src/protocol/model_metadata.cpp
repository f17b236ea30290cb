#include "wmark/protocol/model_metadata.h"

#include <nlohmann/json.hpp>

namespace wmark::protocol {

using json = nlohmann::json;

ModelMetadata decode_v2_model_metadata(std::string_view body, const DecodeLimits& limits) {
  check_json_limits(body, limits, "model metadata");
  const auto metadata = json::parse(body.begin(), body.end(), nullptr, false);
  if (!metadata.is_object() || !metadata.contains("inputs") || !metadata["inputs"].is_array())
    throw ProtocolError(400, "model metadata is not an Open Inference Protocol metadata object");
  const auto& inputs = metadata["inputs"];
  if (inputs.size() != 1)
    throw ProtocolError(400, "the model has " + std::to_string(inputs.size()) +
                                 " inputs; an image classifier with one input is needed");
  const auto& in = inputs[0];
  if (!in.is_object() || !in.value("name", json()).is_string() || !in.value("datatype", json()).is_string() ||
      !in.value("shape", json()).is_array() || in["shape"].size() > 8)
    throw ProtocolError(400, "input metadata needs name, datatype and a shape of at most 8 dimensions");
  ModelMetadata result;
  result.input_name = in["name"].get<std::string>();
  result.input_datatype = in["datatype"].get<std::string>();
  for (const auto& dim : in["shape"]) {
    if (!dim.is_number_integer()) throw ProtocolError(400, "input metadata: a shape dimension is not an integer");
    result.input_shape.push_back(dim.get<std::int64_t>());
  }
  if (metadata.contains("outputs") && metadata["outputs"].is_array()) {
    for (const auto& out : metadata["outputs"]) {
      if (out.is_object() && out.value("name", json()).is_string() && out.value("shape", json()).is_array() &&
          out["shape"].size() == 1)
        result.label_output = out["name"].get<std::string>();
    }
  }
  return result;
}

}  // namespace wmark::protocol
