#include "wmark/attack/forge.h"

#include <torch/torch.h>

#include "wmark/util/error.h"
#include "wmark/util/random.h"

namespace wmark {
namespace {

// Flags restored when the forgery is done: gradients flow to the images only.
class FrozenParameters {
 public:
  explicit FrozenParameters(const std::vector<NetworkPtr>& models) {
    for (const auto& model : models)
      for (auto& p : model->parameters()) {
        saved_.emplace_back(p, p.requires_grad());
        p.set_requires_grad(false);
      }
  }
  ~FrozenParameters() {
    for (auto& [p, flag] : saved_) p.set_requires_grad(flag);
  }
  FrozenParameters(const FrozenParameters&) = delete;
  FrozenParameters& operator=(const FrozenParameters&) = delete;

 private:
  std::vector<std::pair<at::Tensor, bool>> saved_;
};

// Each image's target: uniform over the classes other than its own.
at::Tensor other_classes(const at::Tensor& labels, std::int64_t classes, at::Generator& generator) {
  auto shift = torch::randint(1, classes, labels.sizes(), generator, torch::kLong);
  return (labels + shift) % classes;
}

}  // namespace

ForgeResult forge_trigger_key(const std::vector<NetworkPtr>& surrogates, const Dataset& sources,
                              const ForgeOptions& options, c10::Device device) {
  WMARK_CHECK(!surrogates.empty(), "forge: needs at least one surrogate model");
  for (const auto& model : surrogates) WMARK_CHECK(model, "forge: a surrogate model is missing");
  WMARK_CHECK(options.triggers() >= 1, "forge: triggers must be at least 1");
  WMARK_CHECK(options.epsilon() > 0 && options.epsilon() <= 1, "forge: epsilon must be in (0, 1]");
  WMARK_CHECK(options.steps() >= 1 && options.step_size() > 0, "forge: steps and step size must be positive");
  WMARK_CHECK(options.momentum() >= 0, "forge: momentum must not be negative");
  WMARK_CHECK(sources.num_classes >= 2, "forge: the source data needs at least 2 classes");
  WMARK_CHECK(sources.size() >= options.triggers(), "forge: ", options.triggers(), " triggers need as many source images, ",
              "the data has ", sources.size());

  auto generator = make_generator(derive_seed(options.seed(), "forge"));
  const auto chosen = torch::randperm(sources.size(), generator, torch::kLong).narrow(0, 0, options.triggers());
  const auto clean = sources.images.index_select(0, chosen).to(torch::kFloat).div(255.0).to(device);
  const auto targets = other_classes(sources.labels.index_select(0, chosen), sources.num_classes, generator);
  const auto targets_on_device = targets.to(device);

  for (const auto& model : surrogates) model->eval();
  FrozenParameters frozen(surrogates);
  // The ensemble's loss: mean cross-entropy towards the targets over the surrogates.
  const auto ensemble_loss = [&](const at::Tensor& pixels) {
    at::Tensor total;
    for (const auto& model : surrogates) {
      auto loss = torch::nn::functional::cross_entropy(model->forward(sources.normalization.apply(pixels * 255.0)),
                                                       targets_on_device);
      total = total.defined() ? total + loss : loss;
    }
    return total / static_cast<double>(surrogates.size());
  };
  auto pixels = clean.clone();
  auto velocity = torch::zeros_like(pixels);
  for (std::int64_t step = 0; step < options.steps(); ++step) {
    auto x = pixels.detach().set_requires_grad(true);
    auto gradient = torch::autograd::grad({ensemble_loss(x)}, {x})[0];
    // Momentum on the per-image L1-normalised gradient, then a signed step down the loss.
    velocity = options.momentum() * velocity + gradient / gradient.abs().mean({1, 2, 3}, true).clamp_min(1e-12);
    pixels = (pixels - options.step_size() * velocity.sign())
                 .clamp(clean - options.epsilon(), clean + options.epsilon())
                 .clamp(0, 1)
                 .detach();
  }

  ForgeResult result;
  auto& key = result.key;
  key.method = "trigger-set";
  key.legacy_seed = static_cast<std::uint64_t>(derive_seed(options.seed(), "forge-legacy-seed"));
  key.num_classes = sources.num_classes;
  key.input_shape = sources.shape();
  key.normalization = sources.normalization;
  key.dataset = sources.name;
  key.created = utc_now_iso8601();
  key.params = {{"generator", "adversarial"}, {"label_policy", "random"}, {"target_label", -1}};
  key.tensors["images"] = (pixels * 255.0).round().clamp(0, 255).to(torch::kUInt8).cpu().contiguous();
  key.tensors["labels"] = targets.contiguous();

  // What the surrogates say of the images as saved (quantised to uint8).
  nlohmann::json transfer = nlohmann::json::array();
  {
    torch::NoGradGuard no_grad;
    const auto saved = key.tensors["images"].to(device).to(torch::kFloat);
    for (const auto& model : surrogates) {
      const auto predicted = model->forward(sources.normalization.apply(saved)).argmax(1).cpu();
      transfer.push_back(predicted.eq(targets).to(torch::kDouble).mean().item<double>());
    }
  }
  const auto linf = (key.tensors["images"].to(torch::kFloat) / 255.0 - clean.cpu()).abs().max().item<double>();
  result.details = {{"triggers", options.triggers()},     {"epsilon", options.epsilon()},
                    {"steps", options.steps()},           {"step_size", options.step_size()},
                    {"momentum", options.momentum()},     {"seed", options.seed()},
                    {"surrogates", surrogates.size()},    {"surrogate_target_rate", transfer},
                    {"max_linf_distance", linf}};
  return result;
}

}  // namespace wmark
