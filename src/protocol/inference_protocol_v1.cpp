// V1 ("TF-Serving predict") requests and responses.
#include <limits>

#include "protocol_json.h"
#include "tensor_text.h"

namespace wmark::protocol {

using namespace internal;

std::string encode_v1_request(const at::Tensor& batch) {
  WMARK_CHECK(batch.dim() >= 1 && batch.device().is_cpu(), "a V1 request needs a CPU batch [N, ...]");
  const auto n = batch.size(0);
  const auto sample_dims = batch.sizes().slice(1).vec();
  std::string instances = "[";
  for (std::int64_t i = 0; i < n; ++i) {
    if (i > 0) instances += ',';
    append_json_array(instances, batch[i], sample_dims);  // nested as the sample's shape
  }
  instances += ']';
  return with_member("{}", "instances", instances);
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
  const auto s = scores.to(at::kFloat).contiguous();
  const auto l = labels.to(at::kLong).contiguous();
  std::string predictions = "[";
  for (std::int64_t i = 0; i < s.size(0); ++i) {
    if (i > 0) predictions += ',';
    std::string row;
    append_json_array(row, s[i], {});
    predictions += with_member(json{{"label", l.data_ptr<std::int64_t>()[i]}}.dump(), "scores", row);
  }
  return with_member("{}", "predictions", predictions + "]");
}

at::Tensor decode_v1_predictions(std::string_view body, const DecodeLimits& limits) {
  const auto document = object_or_throw(body, "V1 response", limits);
  refuse_error_answer(document);
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

}  // namespace wmark::protocol
