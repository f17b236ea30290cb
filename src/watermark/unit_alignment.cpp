#include "wmark/watermark/unit_alignment.h"

#include <torch/torch.h>

#include <string>

#include "wmark/models/hidden_units.h"
#include "wmark/models/redundant_units.h"
#include "wmark/util/error.h"
#include "../util/text.h"
#include "wmark/util/linear_assignment.h"

namespace wmark {
namespace {

const std::string kPrefix = "unit-reference/";

std::string tensor_name(const HiddenUnitLayer& layer, const char* what) { return kPrefix + layer.name + "/" + what; }

// splitmix64's finaliser: a fixed, well-mixed hash, so that sketches never change between
// versions or platforms (a key's reference must stay readable).
std::uint64_t mix(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

at::Tensor normalized_rows(const at::Tensor& rows) { return rows / rows.norm(2, 1, true).clamp_min(1e-12); }

// The sign of each unit's batch-norm weight: flipped with the unit (flip_unit_signs).
at::Tensor norm_weight_signs(Network& model, const HiddenUnitLayer& layer) {
  return model.named_parameters()[layer.norm + ".weight"].detach().to(torch::kFloat).sign().cpu();
}

at::Tensor producer_row_norms(Network& model, const HiddenUnitLayer& layer) {
  auto params = model.named_parameters();
  return params[layer.weight].detach().reshape({layer.units, -1}).to(torch::kFloat).norm(2, 1).cpu();
}

// Factors taking `current` norms to `reference` ones; 1 where either is (near) zero.
at::Tensor factors_towards(const at::Tensor& reference, const at::Tensor& current) {
  const auto usable = (reference > 1e-12) & (current > 1e-12);
  return torch::where(usable, reference / current.clamp_min(1e-12), torch::ones_like(current));
}

bool all_one(const at::Tensor& factors) { return (factors - 1).abs().max().item<double>() < 1e-6; }

const at::Tensor& reference_tensor(const WatermarkKey& key, const std::string& name, std::int64_t rows,
                                   std::int64_t cols) {
  const auto& t = key.tensor(name);
  const bool ok = t.scalar_type() == torch::kFloat && (cols == 0 ? t.dim() == 1 && t.size(0) == rows
                                                                 : t.dim() == 2 && t.size(0) == rows && t.size(1) == cols);
  WMARK_CHECK(ok && torch::isfinite(t).all().item<bool>(), "malformed unit reference in the ", key.method,
              " key: '", name, "' is ", t.sizes(), " ", t.scalar_type(), ", expected finite float32 [", rows,
              cols == 0 ? "" : ", " + std::to_string(cols), "]");
  return t;
}

// Stores what matching `layer`'s units needs: the sketch of each unit's normalised
// effective incoming weights, their norms and the inputs per unit.
void record_matching_reference(Network& model, const HiddenUnitLayer& layer, WatermarkKey& key) {
  const auto effective = effective_incoming_weights(model, layer);
  key.tensors[tensor_name(layer, "sketch")] = normalized_rows(unit_sketch(normalized_rows(effective)));
  key.tensors[tensor_name(layer, "norm")] = effective.norm(2, 1).contiguous();
  key.tensors[tensor_name(layer, "inputs")] = torch::tensor({effective.size(1)}, torch::kLong);
}

// A residual stream is matched on its first writer (the stem or a shortcut), read as a
// layer of units: its inputs are the image or the stream before.
HiddenUnitLayer stream_probe(const ResidualStream& stream) {
  HiddenUnitLayer probe;
  probe.name = stream.name;
  probe.units = stream.units;
  probe.weight = stream.producers.front();
  probe.norm = stream.norms.front();
  probe.consumer = stream.readers.front();
  return probe;
}

// How the suspect's units of `layer` pair with the reference's: reference unit i takes
// suspect unit order[i], the assignment of highest total cosine similarity of the
// sketches; or why they cannot be paired.
struct Matching {
  at::Tensor order;       // int64 [units]
  at::Tensor similarity;  // per pair, double [units]
  at::Tensor effective;   // the suspect's effective incoming weights, in its own order
  std::string skipped;
};

Matching match_units(Network& model, const WatermarkKey& key, const HiddenUnitLayer& layer, bool wider) {
  Matching m;
  const auto& stored = key.tensor(tensor_name(layer, "sketch"));
  const auto reference_units = stored.dim() == 2 ? stored.size(0) : -1;
  if (reference_units != layer.units) {
    m.skipped = "layer " + layer.name + " has " + std::to_string(layer.units) + " units" +
                (wider ? " after removing redundant ones" : "") + ", the reference " + std::to_string(reference_units);
    return m;
  }
  const auto& sketch = reference_tensor(key, tensor_name(layer, "sketch"), layer.units, kUnitSketchSize);
  const auto& inputs = key.tensor(tensor_name(layer, "inputs"));
  WMARK_CHECK(inputs.scalar_type() == torch::kLong && inputs.numel() == 1, "malformed unit reference in the ",
              key.method, " key: '", tensor_name(layer, "inputs"), "' is not one int64");
  m.effective = effective_incoming_weights(model, layer);
  if (inputs.item<std::int64_t>() != m.effective.size(1)) {
    m.skipped = "layer " + layer.name + " reads " + std::to_string(m.effective.size(1) - 1) +
                " inputs, the reference " + std::to_string(inputs.item<std::int64_t>() - 1);
    return m;
  }
  const auto similarity = torch::mm(sketch, normalized_rows(unit_sketch(normalized_rows(m.effective))).t())
                              .to(torch::kDouble).contiguous();
  const auto order = max_score_assignment(
      std::vector<double>(similarity.data_ptr<double>(), similarity.data_ptr<double>() + similarity.numel()),
      layer.units, layer.units);
  m.order = torch::tensor(order, torch::kLong);
  m.similarity = similarity.gather(1, m.order.unsqueeze(1)).squeeze(1);
  return m;
}

nlohmann::json alignment_entry(const HiddenUnitLayer& layer, const Matching& m, std::int64_t flipped,
                               const RedundantUnits& removed) {
  return {{"layer", layer.name},
          {"units", layer.units},
          {"moved", m.order.ne(torch::arange(layer.units)).sum().item<std::int64_t>()},
          {"flipped", flipped},
          {"folded", removed.folded},
          {"dropped", removed.dropped},
          {"mean_similarity", m.similarity.mean().item<double>()},
          {"lowest_similarity", m.similarity.min().item<double>()}};
}

}  // namespace

at::Tensor unit_sketch(const at::Tensor& rows) {
  WMARK_CHECK(rows.dim() == 2, "a unit sketch needs rows [N, D], got ", rows.sizes());
  const auto inputs = rows.size(1);
  std::vector<std::int64_t> bucket(inputs);
  std::vector<float> sign(inputs);
  for (std::int64_t j = 0; j < inputs; ++j) {
    const auto h = mix(static_cast<std::uint64_t>(j));
    bucket[j] = static_cast<std::int64_t>(h % kUnitSketchSize);
    sign[j] = (h >> 63) ? -1.0f : 1.0f;
  }
  const auto signed_rows = rows.to(torch::kFloat).cpu() * torch::tensor(sign).unsqueeze(0);
  return torch::zeros({rows.size(0), kUnitSketchSize}).index_add_(1, torch::tensor(bucket), signed_rows);
}

bool record_unit_reference(Network& model, WatermarkKey& key) {
  std::vector<HiddenUnitLayer> layers;
  try {
    layers = hidden_unit_layers(model);
  } catch (const Error&) {
    return false;  // a model wmark cannot transform, and so cannot align either
  }
  for (const auto& layer : layers) {
    record_matching_reference(model, layer, key);
    if (!layer.norm.empty()) {
      key.tensors[tensor_name(layer, "row-norm")] = producer_row_norms(model, layer);
      key.tensors[tensor_name(layer, "norm-sign")] = norm_weight_signs(model, layer).contiguous();
    }
  }
  for (const auto& stream : residual_streams(model)) record_matching_reference(model, stream_probe(stream), key);
  return !layers.empty();
}

bool has_unit_reference(const WatermarkKey& key) {
  const auto it = key.tensors.lower_bound(kPrefix);
  return it != key.tensors.end() && starts_with(it->first, kPrefix);
}

nlohmann::json align_units(Network& model, const WatermarkKey& key) {
  std::vector<HiddenUnitLayer> layers;
  try {
    layers = hidden_unit_layers(model);
  } catch (const Error& e) {
    return {{"skipped", e.what()}};
  }
  nlohmann::json report = nlohmann::json::array();
  // More units than the marked model had: a thief's dummy neurons, folded and dropped
  // in every layer first (a dummy is read only by the next layer's dummies).
  bool wider = false;
  for (const auto& layer : layers) {
    const auto name = tensor_name(layer, "sketch");
    if (key.tensors.count(name) && key.tensor(name).dim() == 2 && layer.units > key.tensor(name).size(0)) wider = true;
  }
  const auto removed = wider ? remove_redundant_units(model) : std::vector<RedundantUnits>(layers.size());
  // Residual streams first (resnet18): each matched on its first writer, whose inputs are
  // the image or the stream before, and rescaled to its effective norm; the blocks' units
  // then read streams in order.
  for (const auto& stream : residual_streams(model)) {
    const auto probe = stream_probe(stream);
    if (!key.tensors.count(tensor_name(probe, "sketch"))) continue;
    const auto m = match_units(model, key, probe, false);
    if (!m.skipped.empty()) return {{"skipped", m.skipped}};
    permute_stream(model, stream, m.order);
    const auto& norm = reference_tensor(key, tensor_name(probe, "norm"), probe.units, 0);
    const auto scale = factors_towards(norm, m.effective.norm(2, 1).index_select(0, m.order));
    if (!all_one(scale)) scale_stream(model, stream, scale);
    report.push_back(alignment_entry(probe, m, 0, RedundantUnits{}));
  }
  for (std::size_t index = 0; index < layers.size(); ++index) {
    const auto layer = hidden_unit_layers(model)[index];
    if (!key.tensors.count(tensor_name(layer, "sketch"))) continue;
    const auto m = match_units(model, key, layer, wider);
    if (!m.skipped.empty()) return {{"skipped", m.skipped}};
    const auto& norm = reference_tensor(key, tensor_name(layer, "norm"), layer.units, 0);
    permute_units(model, layer, m.order);

    // Signs (under a batch norm; the effective weights matched on do not show them).
    std::int64_t flipped = 0;
    if (key.tensors.count(tensor_name(layer, "norm-sign")) && !layer.norm.empty()) {
      const auto& signs = reference_tensor(key, tensor_name(layer, "norm-sign"), layer.units, 0);
      const auto flip = (signs * norm_weight_signs(model, layer)) < 0;
      flipped = flip.sum().item<std::int64_t>();
      if (flipped > 0) flip_unit_signs(model, layer, flip);
    }

    // Rescale: each unit's effective norm, then (under a batch norm) its producer row's.
    const auto scale = factors_towards(norm, m.effective.norm(2, 1).index_select(0, m.order));
    if (!all_one(scale)) scale_units(model, layer, scale);
    if (key.tensors.count(tensor_name(layer, "row-norm")) && !layer.norm.empty()) {
      const auto& rows = reference_tensor(key, tensor_name(layer, "row-norm"), layer.units, 0);
      const auto factors = factors_towards(rows, producer_row_norms(model, layer));
      if (!all_one(factors)) scale_producer_rows(model, layer, factors);
    }
    report.push_back(alignment_entry(layer, m, flipped, removed[index]));
  }
  if (report.empty()) return {{"skipped", "the key's unit reference names none of this model's layers"}};
  return {{"layers", report}};
}

}  // namespace wmark
