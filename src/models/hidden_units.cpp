#include "wmark/models/hidden_units.h"

#include <torch/torch.h>

#include <sstream>

#include "wmark/models/architectures.h"
#include "wmark/util/error.h"

namespace wmark {
namespace {

// Convolution, linear and batch-norm leaves in registration order, which for the
// sequential architectures is the order data flows through them.
struct Leaf {
  std::string path;
  enum class Kind { kWeighted, kNorm } kind;
};

std::vector<Leaf> sequential_leaves(Network& model) {
  std::vector<Leaf> leaves;
  for (const auto& item : model.named_modules("", /*include_self=*/false)) {
    const auto& m = item.value();
    if (m->as<torch::nn::Conv2d>() || m->as<torch::nn::Linear>()) leaves.push_back({item.key(), Leaf::Kind::kWeighted});
    if (m->as<torch::nn::BatchNorm2d>() || m->as<torch::nn::BatchNorm1d>()) leaves.push_back({item.key(), Leaf::Kind::kNorm});
  }
  return leaves;
}

bool has_parameter(Network& model, const std::string& name) { return model.named_parameters().contains(name); }

HiddenUnitLayer make_layer(Network& model, const std::string& producer, const std::string& norm,
                           const std::string& consumer) {
  auto params = model.named_parameters();
  HiddenUnitLayer layer;
  layer.name = producer;
  layer.weight = producer + ".weight";
  layer.bias = has_parameter(model, producer + ".bias") ? producer + ".bias" : "";
  layer.norm = norm;
  layer.consumer = consumer + ".weight";
  layer.units = params[layer.weight].size(0);
  const auto columns = params[layer.consumer].size(1);
  WMARK_CHECK(columns % layer.units == 0, "layer ", consumer, " reads ", columns, " inputs, not a multiple of the ",
              layer.units, " units of ", producer);
  layer.block = columns / layer.units;
  WMARK_CHECK(norm.empty() || params[norm + ".weight"].size(0) == layer.units, "batch norm ", norm,
              " does not cover the ", layer.units, " units of ", producer);
  return layer;
}

std::vector<HiddenUnitLayer> sequential_layers(Network& model) {
  const auto leaves = sequential_leaves(model);
  std::vector<HiddenUnitLayer> layers;
  for (std::size_t i = 0; i < leaves.size(); ++i) {
    if (leaves[i].kind != Leaf::Kind::kWeighted) continue;
    std::string norm;
    std::size_t next = i + 1;
    if (next < leaves.size() && leaves[next].kind == Leaf::Kind::kNorm) norm = leaves[next++].path;
    if (next == leaves.size()) break;  // the logits layer: its outputs are the classes
    layers.push_back(make_layer(model, leaves[i].path, norm, leaves[next].path));
  }
  return layers;
}

// Inside each residual block: conv1 -> bn1 -> ReLU -> conv2.
std::vector<HiddenUnitLayer> residual_block_layers(Network& model) {
  std::vector<HiddenUnitLayer> layers;
  for (const auto& item : model.named_modules("", false)) {
    const auto& path = item.key();
    const auto dot = path.rfind('.');
    if (dot == std::string::npos || path.substr(dot + 1) != "conv1") continue;
    const auto block = path.substr(0, dot);
    layers.push_back(make_layer(model, path, block + ".bn1", block + ".conv2"));
  }
  return layers;
}

at::Tensor& find(torch::OrderedDict<std::string, at::Tensor>& tensors, const std::string& name) {
  auto* found = tensors.find(name);
  WMARK_CHECK(found, "the model has no tensor '", name, "'");
  return *found;
}

// `v` shaped to broadcast along dim `dim` of a tensor of `dims` dimensions.
at::Tensor along(const at::Tensor& v, std::int64_t dim, std::int64_t dims) {
  std::vector<std::int64_t> shape(dims, 1);
  shape[dim] = v.numel();
  return v.view(shape);
}

// Multiplies the producer's rows by `factors` and keeps the batch norm's output: it divides
// by sqrt(var + eps), so running_var becomes a^2 (var + eps) - eps, exactly; a unit whose
// variance is too small keeps a = 1. Returns the factors applied.
at::Tensor rescale_rows_under_norm(UnitTensors& t, const at::Tensor& factors) {
  const auto var = t.running_var;
  auto a = torch::where(factors * factors * (var + t.eps) - t.eps > 0, factors, torch::ones_like(factors));
  for (auto& r : t.rows) r.mul_(along(a, 0, r.dim()));
  t.running_mean.mul_(a);
  t.running_var.copy_(a * a * (var + t.eps) - t.eps);
  return a;
}

void check_factors(const HiddenUnitLayer& layer, const at::Tensor& factors, const char* what) {
  WMARK_CHECK(factors.dim() == 1 && factors.numel() == layer.units && (factors > 0).all().item<bool>() &&
                  torch::isfinite(factors).all().item<bool>(),
              what, " ", layer.name, " needs ", layer.units, " positive finite factors");
}

}  // namespace

std::vector<HiddenUnitLayer> hidden_unit_layers(Network& model) {
  if (dynamic_cast<MnistCnn*>(&model) || dynamic_cast<CifarCnn*>(&model)) return sequential_layers(model);
  if (dynamic_cast<ResNet18*>(&model)) return residual_block_layers(model);
  WMARK_FAIL("the hidden units of this model are not known to wmark (it knows those of mnist_cnn, cifar_cnn and "
             "resnet18; a TorchScript file or a user's own network has no such description)");
}

std::vector<HiddenUnitLayer> select_hidden_unit_layers(Network& model, const std::string& selection) {
  auto all = hidden_unit_layers(model);
  if (selection.empty()) return all;
  std::vector<HiddenUnitLayer> chosen;
  std::stringstream names(selection);
  for (std::string name; std::getline(names, name, ',');) {
    const auto it = std::find_if(all.begin(), all.end(), [&](const HiddenUnitLayer& l) { return l.name == name; });
    if (it == all.end()) {
      std::string available;
      for (const auto& l : all) available += (available.empty() ? "" : ", ") + l.name;
      WMARK_FAIL("no hidden-unit layer '", name, "' in this model; it has ", available);
    }
    chosen.push_back(*it);
  }
  return chosen;
}

UnitTensors unit_tensors(Network& model, const HiddenUnitLayer& layer) {
  auto params = model.named_parameters();
  auto buffers = model.named_buffers();
  UnitTensors t;
  t.rows.push_back(find(params, layer.weight));
  if (!layer.bias.empty()) t.rows.push_back(find(params, layer.bias));
  if (!layer.norm.empty()) {
    t.norm = {find(params, layer.norm + ".weight"), find(params, layer.norm + ".bias")};
    t.running_mean = find(buffers, layer.norm + ".running_mean");
    t.running_var = find(buffers, layer.norm + ".running_var");
    for (const auto& item : model.named_modules("", false)) {
      if (item.key() != layer.norm) continue;
      if (auto* bn = item.value()->as<torch::nn::BatchNorm2d>()) t.eps = bn->options.eps();
      if (auto* bn = item.value()->as<torch::nn::BatchNorm1d>()) t.eps = bn->options.eps();
    }
  }
  t.consumer_weight = find(params, layer.consumer);
  t.consumer = t.consumer_weight.view({t.consumer_weight.size(0), layer.units, -1});
  return t;
}

void select_units(Network& model, const HiddenUnitLayer& layer, const at::Tensor& index) {
  WMARK_CHECK(index.dim() == 1 && index.numel() >= 1, "selecting units of ", layer.name,
              " needs a non-empty list of units");
  const auto cpu = index.to(torch::kLong).cpu();
  WMARK_CHECK(cpu.min().item<std::int64_t>() >= 0 && cpu.max().item<std::int64_t>() < layer.units, "layer ",
              layer.name, " has units 0..", layer.units - 1, "; a selection names others");
  torch::NoGradGuard no_grad;
  auto t = unit_tensors(model, layer);
  const auto i = cpu.to(t.consumer.device());
  for (auto& r : t.rows) r.set_data(r.index_select(0, i));
  for (auto& n : t.norm) n.set_data(n.index_select(0, i));
  if (t.running_mean.defined()) {
    t.running_mean.set_data(t.running_mean.index_select(0, i));
    t.running_var.set_data(t.running_var.index_select(0, i));
  }
  auto shape = t.consumer_weight.sizes().vec();
  shape[1] = shape[1] / layer.units * i.numel();
  t.consumer_weight.set_data(t.consumer.index_select(1, i).reshape(shape));
}

void resize_units(Network& model, const HiddenUnitLayer& layer, std::int64_t units) {
  WMARK_CHECK(units >= 1, "layer ", layer.name, " needs at least one unit");
  if (units <= layer.units) {
    if (units < layer.units) select_units(model, layer, torch::arange(units));
    return;
  }
  torch::NoGradGuard no_grad;
  auto t = unit_tensors(model, layer);
  const auto added = units - layer.units;
  auto grow = [&](at::Tensor& v, std::int64_t dim, double fill) {
    auto shape = v.sizes().vec();
    shape[dim] = dim == 0 ? added : shape[dim] / layer.units * added;
    v.set_data(torch::cat({v, torch::full(shape, fill, v.options())}, dim));
  };
  for (auto& r : t.rows) grow(r, 0, 0.0);
  if (!t.norm.empty()) {
    grow(t.norm[0], 0, 1.0);
    grow(t.norm[1], 0, 0.0);
    grow(t.running_mean, 0, 0.0);
    grow(t.running_var, 0, 1.0);
  }
  grow(t.consumer_weight, 1, 0.0);
}

void match_unit_widths(Network& model,
                       const std::function<std::optional<std::int64_t>(const std::string&)>& width_of,
                       const std::string& what) {
  std::size_t count = 0;
  try {
    count = hidden_unit_layers(model).size();
  } catch (const Error&) {
    return;  // a structure wmark does not know: nothing it could widen
  }
  for (std::size_t i = 0; i < count; ++i) {
    // Read again: widening a layer changes the next one's inputs (and, in a sequential
    // network, the next layer's producer is this one's consumer).
    const auto layer = hidden_unit_layers(model)[i];
    const auto width = width_of(layer.weight);
    if (!width || *width == layer.units) continue;
    WMARK_CHECK(*width >= 1 && *width <= 64 * layer.units, what, ": layer ", layer.name, " has ", *width,
                " units where the architecture has ", layer.units, " (wmark accepts 1 to 64 times as many)");
    resize_units(model, layer, *width);
  }
}

void permute_units(Network& model, const HiddenUnitLayer& layer, const at::Tensor& order) {
  WMARK_CHECK(order.dim() == 1 && order.numel() == layer.units &&
                  torch::equal(std::get<0>(order.to(torch::kLong).cpu().sort()), torch::arange(layer.units)),
              "a reordering of ", layer.name, " must be a permutation of its ", layer.units, " units");
  torch::NoGradGuard no_grad;
  auto t = unit_tensors(model, layer);
  const auto index = order.to(torch::kLong).to(t.consumer.device());
  for (auto& r : t.rows) r.copy_(r.index_select(0, index));
  for (auto& n : t.norm) n.copy_(n.index_select(0, index));
  if (t.running_mean.defined()) {
    t.running_mean.copy_(t.running_mean.index_select(0, index));
    t.running_var.copy_(t.running_var.index_select(0, index));
  }
  t.consumer.copy_(t.consumer.index_select(1, index));
}

void scale_units(Network& model, const HiddenUnitLayer& layer, const at::Tensor& factors) {
  check_factors(layer, factors, "scaling");
  torch::NoGradGuard no_grad;
  auto t = unit_tensors(model, layer);
  const auto c = factors.to(t.consumer.dtype()).to(t.consumer.device());
  if (t.norm.empty()) {
    for (auto& r : t.rows) r.mul_(along(c, 0, r.dim()));
  } else {
    // The norm's output scales with its affine weight and bias; the producer's rows may
    // scale too, the running statistics following them.
    for (auto& n : t.norm) n.mul_(c);
    rescale_rows_under_norm(t, c);
  }
  t.consumer.div_(along(c, 1, 3));
}

at::Tensor scale_producer_rows(Network& model, const HiddenUnitLayer& layer, const at::Tensor& factors) {
  check_factors(layer, factors, "rescaling the rows of");
  torch::NoGradGuard no_grad;
  auto t = unit_tensors(model, layer);
  const auto a = factors.to(t.consumer.dtype()).to(t.consumer.device());
  if (t.norm.empty()) return torch::ones_like(a);
  return rescale_rows_under_norm(t, a);
}

void flip_unit_signs(Network& model, const HiddenUnitLayer& layer, const at::Tensor& flip) {
  WMARK_CHECK(flip.dim() == 1 && flip.numel() == layer.units && flip.scalar_type() == torch::kBool,
              "flipping the signs of ", layer.name, " needs ", layer.units, " booleans");
  WMARK_CHECK(!layer.norm.empty(), "the units of ", layer.name, " have no batch norm after them: a sign does not "
              "pass the ReLU, so flipping it would change the function");
  torch::NoGradGuard no_grad;
  auto t = unit_tensors(model, layer);
  // (-z - (-mean)) * (-gamma) = (z - mean) * gamma: the norm's output is the same.
  const auto sign = 1 - 2 * flip.to(t.consumer.dtype()).to(t.consumer.device());
  for (auto& r : t.rows) r.mul_(along(sign, 0, r.dim()));
  t.running_mean.mul_(sign);
  t.norm[0].mul_(sign);
}

std::vector<ResidualStream> residual_streams(Network& model) {
  if (!dynamic_cast<ResNet18*>(&model)) return {};
  const auto params = model.named_parameters();
  std::vector<ResidualStream> streams;
  ResidualStream current{"stream1", 0, {"stem.0.weight"}, {"stem.1"}, {}};
  // A block reads the stream it is given; with a shortcut it starts the next one, which
  // its shortcut and its second convolution write; without, it adds to the same one.
  for (std::size_t i = 0;; ++i) {
    const auto block = "layers." + std::to_string(i);
    if (!params.contains(block + ".conv1.weight")) break;
    current.readers.push_back(block + ".conv1.weight");
    if (params.contains(block + ".shortcut.0.weight")) {
      current.readers.push_back(block + ".shortcut.0.weight");
      streams.push_back(current);
      current = {"stream" + std::to_string(streams.size() + 1), 0, {block + ".shortcut.0.weight"},
                 {block + ".shortcut.1"}, {}};
    }
    current.producers.push_back(block + ".conv2.weight");
    current.norms.push_back(block + ".bn2");
  }
  current.readers.push_back("fc.weight");
  streams.push_back(current);
  for (auto& stream : streams) stream.units = params[stream.producers.front()].size(0);
  return streams;
}

void permute_stream(Network& model, const ResidualStream& stream, const at::Tensor& order) {
  WMARK_CHECK(order.dim() == 1 && order.numel() == stream.units &&
                  torch::equal(std::get<0>(order.to(torch::kLong).cpu().sort()), torch::arange(stream.units)),
              "a reordering of ", stream.name, " must be a permutation of its ", stream.units, " channels");
  torch::NoGradGuard no_grad;
  auto params = model.named_parameters();
  auto buffers = model.named_buffers();
  const auto index = order.to(torch::kLong).to(find(params, stream.producers.front()).device());
  const auto reorder = [&index](at::Tensor& t, std::int64_t dim) { t.copy_(t.index_select(dim, index)); };
  for (const auto& weight : stream.producers) reorder(find(params, weight), 0);
  for (const auto& norm : stream.norms) {
    reorder(find(params, norm + ".weight"), 0);
    reorder(find(params, norm + ".bias"), 0);
    reorder(find(buffers, norm + ".running_mean"), 0);
    reorder(find(buffers, norm + ".running_var"), 0);
  }
  for (const auto& weight : stream.readers) reorder(find(params, weight), 1);
}

void scale_stream(Network& model, const ResidualStream& stream, const at::Tensor& factors) {
  WMARK_CHECK(factors.dim() == 1 && factors.numel() == stream.units && (factors > 0).all().item<bool>() &&
                  torch::isfinite(factors).all().item<bool>(),
              "scaling ", stream.name, " needs ", stream.units, " positive finite factors");
  torch::NoGradGuard no_grad;
  auto params = model.named_parameters();
  const auto& first = find(params, stream.producers.front());
  const auto c = factors.to(first.dtype()).to(first.device());
  for (const auto& norm : stream.norms) {
    find(params, norm + ".weight").mul_(c);
    find(params, norm + ".bias").mul_(c);
  }
  for (const auto& weight : stream.readers) {
    auto& reader = find(params, weight);
    reader.div_(along(c, 1, reader.dim()));
  }
}

at::Tensor effective_incoming_weights(Network& model, const HiddenUnitLayer& layer) {
  torch::NoGradGuard no_grad;
  auto t = unit_tensors(model, layer);
  auto weight = t.rows[0].reshape({layer.units, -1}).to(torch::kFloat);
  auto bias = t.rows.size() > 1 ? t.rows[1].to(torch::kFloat) : torch::zeros({layer.units}, weight.options());
  if (!t.norm.empty()) {
    const auto scale = t.norm[0].to(torch::kFloat) / (t.running_var.to(torch::kFloat) + t.eps).sqrt();
    weight = weight * scale.unsqueeze(1);
    bias = (bias - t.running_mean.to(torch::kFloat)) * scale + t.norm[1].to(torch::kFloat);
  }
  return torch::cat({weight, bias.unsqueeze(1)}, 1).cpu();
}

}  // namespace wmark
