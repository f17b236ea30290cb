#include "wmark/attack/fine_pruning.h"

#include "attack_options.h"

#include <torch/torch.h>

#include <cmath>

#include "wmark/attack/prune.h"
#include "wmark/models/hidden_units.h"
#include "wmark/train/trainer.h"
#include "wmark/util/error.h"

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
    if (name.rfind(prefix, 0) != 0 || name.find('.', prefix.size()) != std::string::npos) continue;
    bool is_sequential = false;
    for (const auto& item : model.named_modules("", false)) {
      if (item.key() == tapped) is_sequential = item.value()->as<torch::nn::Sequential>() != nullptr;
    }
    bool last_inside = true;  // no later hidden-unit layer inside the same block
    for (std::size_t later = index + 1; later < all.size(); ++later) {
      if (all[later].name.rfind(prefix, 0) == 0) last_inside = false;
    }
    if (is_sequential && last_inside) return tapped;
  }
  return "";
}

// Mean activation of each unit of `tapped` over the attacker's images, [units].
at::Tensor mean_activation(Network& model, const std::string& tapped, const Dataset& data, std::int64_t units,
                           c10::Device device) {
  torch::NoGradGuard no_grad;
  model.eval();
  ActivationCapture capture(model, tapped);
  auto sum = torch::zeros({units}, torch::kDouble);
  const std::int64_t batch = 256;
  for (std::int64_t start = 0; start < data.size(); start += batch) {
    const auto n = std::min(batch, data.size() - start);
    model.forward(data.normalization.apply(data.images.narrow(0, start, n)).to(device));
    auto out = model.captured(tapped).to(torch::kCPU).to(torch::kDouble);
    WMARK_CHECK(out.dim() >= 2 && out.size(1) == units, "fine-pruning: layer ", tapped, " gives ", out.sizes(),
                ", not ", units, " units");
    std::vector<std::int64_t> dims = {0};
    for (std::int64_t d = 2; d < out.dim(); ++d) dims.push_back(d);
    sum += out.sum(dims) / static_cast<double>(out.numel() / (out.size(0) * units));
  }
  return sum / static_cast<double>(std::max<std::int64_t>(1, data.size()));
}

}  // namespace

const OptionBinding<FinePruningOptions>& FinePruningAttack::declared_options() {
  static const auto binding = [] {
    OptionBinding<FinePruningOptions> b("the fine-pruning attack");
    b.describe("Prune the units clean data leaves least active, then fine-tune with them held at zero")
        .text(WMARK_OPTION_FIELD(layer), "hidden-unit layer to prune (empty: the last convolutional one)")
        .number(WMARK_OPTION_FIELD(rate), "fraction of its units pruned, least active first", 0.0, 0.99)
        .integer(WMARK_OPTION_FIELD(epochs), "fine-tuning epochs after pruning (0: none)", 0, 10000);
    return declare_optimizer(b, "fine-tuning");
  }();
  return binding;
}

FinePruningAttack::FinePruningAttack(FinePruningOptions options) : options_(declared_options().checked(options)) {}

nlohmann::json FinePruningAttack::options() const { return declared_options().write(options_); }

AttackResult FinePruningAttack::run(Network& victim, const AttackContext& context) const {
  auto model = clone_network(victim, context.make_model);
  const auto all = hidden_unit_layers(*model);
  select_hidden_unit_layers(*model, options_.layer());  // refuses an unknown name, listing the known
  HiddenUnitLayer layer;
  std::string tapped;
  for (std::size_t i = 0; i < all.size(); ++i) {
    const bool chosen = options_.layer().empty() ? model->named_parameters()[all[i].weight].dim() == 4
                                                 : all[i].name == options_.layer();
    const auto output = chosen ? tapped_output_of(*model, all, i) : std::string();
    if (!output.empty()) layer = all[i], tapped = output;  // the last one chosen
  }
  WMARK_CHECK(!tapped.empty(), "fine-pruning: the model exposes no activations of ",
              options_.layer().empty() ? std::string("a convolutional hidden-unit layer") : "layer " + options_.layer(),
              " (it taps ", model->tapped_layers().size(), " layers; units inside residual blocks are not exposed)");
  const auto device = context.training.device();
  model->to(device);
  const auto activation = mean_activation(*model, tapped, context.data, layer.units, device);
  const auto order = std::get<1>(activation.sort());  // least active first
  const auto count = static_cast<std::int64_t>(std::floor(options_.rate() * static_cast<double>(layer.units)));
  const auto pruned = order.narrow(0, 0, count);

  // Pruning a unit: its producer row and its consumer columns set to zero, and kept there.
  auto params = model->named_parameters();
  PruneMask mask;
  const auto rows = torch::ones({layer.units}, torch::kBool).index_fill_(0, pruned, false);
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
  {
    torch::NoGradGuard no_grad;
    for (std::size_t i = 0; i < mask.names.size(); ++i) params[mask.names[i]].mul_(mask.keep[i]);
  }
  if (options_.epochs() > 0) {
    Trainer trainer(model, attack_training(context.training, options_.optimizer(), options_.lr(), options_.epochs(),
                                           context.seed, "fine-pruning"));
    trainer.add_hook(make_prune_mask_hook(mask));
    trainer.fit(context.data);
  }
  AttackResult result;
  result.model = model;
  result.arch = context.arch;
  std::vector<std::int64_t> pruned_units(pruned.data_ptr<std::int64_t>(), pruned.data_ptr<std::int64_t>() + count);
  result.details = {{"layer", layer.name}, {"units", layer.units}, {"pruned", pruned_units},
                    {"epochs", options_.epochs()}};
  return result;
}

}  // namespace wmark
