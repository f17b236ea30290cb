#include "exposed_units.h"

#include <torch/torch.h>

#include <algorithm>

#include "wmark/util/error.h"
#include "../util/text.h"

namespace wmark {
namespace {

// The tapped layer whose output holds `all[index]`'s units after their nonlinearity: the
// layer itself, or a Sequential block it ends as a direct child (cifar_cnn's "features").
// A residual block's output is its sum with the shortcut, not its inner units: not accepted.
std::string tapped_output_of(Network& model, const std::vector<HiddenUnitLayer>& all, std::size_t index) {
  const auto& name = all[index].name;
  for (const auto& tapped : model.tapped_layers()) {
    if (tapped == name) return tapped;
    const auto prefix = tapped + ".";
    // A direct child of the block: units nested deeper (a residual block's) are not its output.
    if (!starts_with(name, prefix) || name.find('.', prefix.size()) != std::string::npos) continue;
    bool is_sequential = false;
    for (const auto& item : model.named_modules("", false)) {
      if (item.key() == tapped) is_sequential = item.value()->as<torch::nn::Sequential>() != nullptr;
    }
    bool last_inside = true;  // no later hidden-unit layer inside the same block
    for (std::size_t later = index + 1; later < all.size(); ++later) {
      if (starts_with(all[later].name, prefix)) last_inside = false;
    }
    if (is_sequential && last_inside) return tapped;
  }
  return "";
}

// For the first layer inside a tapped block that is not a Sequential (a residual block,
// whose output is a sum), the tapped layer before the block: its output is the block's
// input, from which the layer's units are recomputed. "" for any other layer.
std::string block_input_of(Network& model, const HiddenUnitLayer& layer) {
  const auto dot = layer.name.rfind('.');
  if (dot == std::string::npos) return "";
  const auto block = layer.name.substr(0, dot);
  const auto tapped = model.tapped_layers();
  const auto at = std::find(tapped.begin(), tapped.end(), block);
  if (at == tapped.end() || at == tapped.begin()) return "";
  for (const auto& item : model.named_modules("", false)) {
    if (item.key() != block) continue;
    const auto children = item.value()->named_children();
    const bool first_child = !children.is_empty() && block + "." + children.begin()->key() == layer.name;
    if (!first_child || item.value()->as<torch::nn::Sequential>()) return "";
  }
  return *(at - 1);
}

at::Tensor forward_through(torch::nn::Module& module, const std::string& name, const at::Tensor& x) {
  if (auto* conv = module.as<torch::nn::Conv2d>()) return conv->forward(x);
  if (auto* linear = module.as<torch::nn::Linear>()) return linear->forward(x);
  if (auto* norm = module.as<torch::nn::BatchNorm2d>()) return norm->forward(x);
  if (auto* norm = module.as<torch::nn::BatchNorm1d>()) return norm->forward(x);
  throw Error("cannot recompute the units of " + name + ": not a convolution, linear layer or batch norm");
}

// Reads `exposed`'s units from the batch the model has just seen; the modules that
// recompute them are looked up once.
class UnitReader {
 public:
  UnitReader(Network& model, const ExposedUnitLayer& exposed) : model_(model), exposed_(exposed) {
    if (!exposed.from_block_input) return;
    const auto modules = model.named_modules("", false);
    producer_ = modules[exposed.layer.name];
    if (!exposed.layer.norm.empty()) norm_ = modules[exposed.layer.norm];
    inputs_ = model.named_parameters()[exposed.layer.weight].size(1);
  }
  at::Tensor operator()() const {
    auto out = model_.captured(exposed_.tapped);
    if (!producer_) return out;
    WMARK_CHECK(out.dim() >= 2 && out.size(1) == inputs_, "layer ", exposed_.tapped, " gives ", out.sizes(), ", which ",
                exposed_.layer.name, " cannot read");
    out = forward_through(*producer_, exposed_.layer.name, out);
    if (norm_) out = forward_through(*norm_, exposed_.layer.norm, out);
    return out.relu_();
  }

 private:
  Network& model_;
  const ExposedUnitLayer& exposed_;
  std::shared_ptr<torch::nn::Module> producer_, norm_;
  std::int64_t inputs_ = 0;
};

}  // namespace

std::vector<ExposedUnitLayer> exposed_unit_layers(Network& model) {
  const auto all = hidden_unit_layers(model);
  std::vector<ExposedUnitLayer> exposed;
  for (std::size_t i = 0; i < all.size(); ++i) {
    if (auto tapped = tapped_output_of(model, all, i); !tapped.empty()) {
      exposed.push_back({all[i], std::move(tapped)});
    } else if (auto input = block_input_of(model, all[i]); !input.empty()) {
      exposed.push_back({all[i], std::move(input), /*from_block_input=*/true});
    }
  }
  return exposed;
}

at::Tensor mean_unit_activation(Network& model, const ExposedUnitLayer& exposed, const at::Tensor& images,
                                const Normalization& normalization, c10::Device device) {
  torch::NoGradGuard no_grad;
  model.eval();
  ActivationCapture capture(model, exposed.tapped);
  at::Tensor sum;
  const std::int64_t batch = 256;
  const UnitReader units(model, exposed);
  for (std::int64_t start = 0; start < images.size(0); start += batch) {
    const auto n = std::min(batch, images.size(0) - start);
    model.forward(normalization.apply(images.narrow(0, start, n).to(device)));
    const auto out = units().to(torch::kCPU).to(torch::kDouble);
    WMARK_CHECK(out.dim() >= 2 && out.size(1) == exposed.layer.units, "layer ", exposed.tapped, " gives ",
                out.sizes(), ", not ", exposed.layer.units, " units");
    sum = sum.defined() ? sum + out.sum(0) : out.sum(0);
  }
  WMARK_CHECK(sum.defined(), "mean_unit_activation needs at least one image");
  return sum / static_cast<double>(images.size(0));
}

PruneMask silence_units(Network& model, const HiddenUnitLayer& layer, const at::Tensor& units) {
  auto params = model.named_parameters();
  PruneMask mask;
  const auto rows = torch::ones({layer.units}, torch::kBool).index_fill_(0, units.to(torch::kLong), false);
  const auto& producer = params[layer.weight];
  std::vector<std::int64_t> row_shape(producer.dim(), 1);
  row_shape[0] = layer.units;
  mask.names = {layer.weight, layer.consumer};
  mask.keep.push_back(rows.view(row_shape).expand_as(producer).to(producer.device()).clone());
  const auto& consumer = params[layer.consumer];
  mask.keep.push_back(rows.view({1, layer.units, 1})
                          .expand({consumer.size(0), layer.units, consumer.numel() / (consumer.size(0) * layer.units)})
                          .reshape(consumer.sizes())
                          .to(consumer.device())
                          .clone());
  torch::NoGradGuard no_grad;
  for (std::size_t i = 0; i < mask.names.size(); ++i) params[mask.names[i]].mul_(mask.keep[i]);
  if (!layer.bias.empty()) params[layer.bias].masked_fill_(~rows.to(params[layer.bias].device()), 0);
  return mask;
}

}  // namespace wmark
