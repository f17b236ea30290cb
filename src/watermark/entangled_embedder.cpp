#include "wmark/watermark/entangled_embedder.h"

#include <torch/torch.h>

#include <algorithm>

#include "wmark/train/soft_nearest_neighbour.h"
#include "wmark/util/error.h"
#include "../util/text.h"

namespace wmark {
namespace {

constexpr std::int64_t kProbeSize = 64;          // triggers and target images each
constexpr std::int64_t kTemperatureSteps = 10;   // per epoch
constexpr double kMinTemperature = 1e-3;
constexpr double kReferenceScale = 100.0;        // the reference's kernel: exp(-100 d / T)

at::Tensor kernel_temperature(const at::Tensor& reference_units) { return reference_units / kReferenceScale; }

c10::Device device_of(Network& model) {
  const auto params = model.parameters();
  return params.empty() ? c10::Device(c10::kCPU) : params.front().device();
}

}  // namespace

at::Tensor entangle_triggers(Network& model, const at::Tensor& triggers, const at::Tensor& target_images,
                             std::int64_t target, const std::vector<std::string>& layers,
                             const Normalization& normalization, const EntanglementOptions& options,
                             c10::Device device) {
  constexpr std::int64_t kMostLoweringSteps = 50;  // the reference's cap on the threshold loop
  constexpr std::int64_t kFinalLoweringSteps = 5;
  model.eval();
  std::vector<std::unique_ptr<ActivationCapture>> captures;
  for (const auto& layer : layers) captures.push_back(std::make_unique<ActivationCapture>(model, layer));
  const auto step = options.trigger_step();
  const auto count = triggers.size(0);
  const auto targets = normalization.apply(target_images).to(device);
  const auto groups = torch::cat({torch::ones({count}, torch::kLong), torch::zeros({targets.size(0)}, torch::kLong)})
                          .to(device);
  const auto temperature = torch::full({}, options.temperature() / kReferenceScale, torch::dtype(torch::kFloat).device(device));
  auto x = triggers.to(device).to(torch::kFloat) / 255.0;  // [0,1], rounded only at the end

  const auto target_rate = [&] {
    torch::NoGradGuard no_grad;
    return model.forward(normalization.apply(x * 255.0)).argmax(1).eq(target).to(torch::kDouble).mean().item<double>();
  };
  // Gradients by autograd::grad leave the parameters' .grad alone.
  const auto lower_target_logit = [&] {
    auto input = x.clone().requires_grad_(true);
    const auto logit = model.forward(normalization.apply(input * 255.0)).select(1, target).sum();
    x = (x - step * torch::autograd::grad({logit}, {input})[0].sign()).clamp(0, 1);
  };
  const auto raise_entanglement = [&] {
    auto input = x.clone().requires_grad_(true);
    model.forward(torch::cat({normalization.apply(input * 255.0), targets}));
    at::Tensor loss;
    for (const auto& capture : captures) {
      const auto term = soft_nearest_neighbour_loss(capture->flat(), groups, temperature);
      loss = loss.defined() ? loss + term : term;
    }
    x = (x + step * torch::autograd::grad({loss}, {input})[0].sign()).clamp(0, 1);
  };

  std::int64_t lowering = 0;
  for (std::int64_t round = 0; round < options.trigger_steps(); ++round) {
    while (lowering < kMostLoweringSteps && target_rate() > options.false_rate()) {
      lower_target_logit();
      ++lowering;
    }
    raise_entanglement();
  }
  for (std::int64_t i = 0; i < kFinalLoweringSteps; ++i) lower_target_logit();
  return x.mul(255).round().to(torch::kUInt8).cpu().contiguous();
}

std::vector<std::string> default_entangled_layers(const Network& model) {
  auto tapped = model.tapped_layers();
  WMARK_CHECK(tapped.size() >= 2, "entangled watermarks need a model that taps hidden layers (Network::tap)");
  tapped.pop_back();  // the logits
  std::vector<std::string> hidden;
  for (const auto& layer : tapped) {
    const bool container = std::any_of(tapped.begin(), tapped.end(), [&layer](const std::string& other) {
      return starts_with(other, layer + ".");
    });
    if (!container) hidden.push_back(layer);
  }
  const auto keep = std::min<std::size_t>(3, hidden.size());
  return {hidden.end() - static_cast<std::ptrdiff_t>(keep), hidden.end()};
}

EntangledEmbedder::EntangledEmbedder(NetworkPtr model, TriggerSet triggers, WatermarkKey key_base,
                                     TriggerEmbedderOptions options, at::Tensor target_images,
                                     EntanglementOptions entanglement)
    : TriggerEmbedder(std::move(triggers), std::move(key_base), options),
      model_(std::move(model)),
      options_(std::move(entanglement)) {
  WMARK_CHECK(model_, "entangled embedding needs the model it trains");
  const auto& labels = this->triggers().labels;
  target_ = labels[0].item<std::int64_t>();
  WMARK_CHECK(labels.eq(target_).all().item<bool>(), "entangled embedding needs triggers of one target label");
  WMARK_CHECK(target_images.defined() && target_images.dim() == 4 && target_images.size(0) >= 2 &&
                  target_images.sizes().slice(1) == this->triggers().images.sizes().slice(1),
              "entangled embedding needs at least two target-class images of the triggers' shape");
  WMARK_CHECK(options_.weight() > 0, "entangled embedding: the weight must be positive, got ", options_.weight());
  WMARK_CHECK(options_.temperature() > 0, "entangled embedding: the temperature must be positive, got ",
              options_.temperature());
  WMARK_CHECK(options_.temperature_lr() >= 0 && options_.warmup_epochs() >= 0,
              "entangled embedding: temperature_lr and warmup_epochs must be >= 0");
  layers_ = options_.layers().empty() ? default_entangled_layers(*model_) : options_.layers();
  for (const auto& layer : layers_) captures_.push_back(std::make_unique<ActivationCapture>(*model_, layer));
  temperatures_.assign(layers_.size(), options_.temperature());

  WMARK_CHECK(options_.trigger_steps() >= 0 && options_.trigger_step() > 0 && options_.trigger_step() <= 1 &&
                  options_.false_rate() >= 0 && options_.false_rate() <= 1,
              "entangled embedding: trigger_steps >= 0, trigger_step in (0, 1] and false_rate in [0, 1] required");
  target_images_ = target_images.narrow(0, 0, std::min(kProbeSize, target_images.size(0))).contiguous();
}

EntangledEmbedder::~EntangledEmbedder() = default;

Batch EntangledEmbedder::mix(const at::Tensor& images, const at::Tensor& labels) {
  if (epochs_begun_ <= options_.warmup_epochs()) return Embedder::mix(images, labels);
  auto batch = TriggerEmbedder::mix(images, labels);
  triggers_begin_ = images.size(0);
  triggers_end_ = batch.images.size(0);
  return batch;
}

at::Tensor EntangledEmbedder::loss_term(const Batch& batch, const at::Tensor& logits, Network&) {
  if (epochs_begun_ <= options_.warmup_epochs()) return {};
  WMARK_CHECK(logits.size(0) >= triggers_end_ && triggers_end_ > triggers_begin_,
              "entangled embedding: the logits are not of the batch from the last mix()");
  const auto device = logits.device();
  const auto before = batch.labels.narrow(0, 0, triggers_begin_).to(device);
  const auto target_rows = before.eq(target_).nonzero().flatten();
  if (target_rows.size(0) == 0) return {};
  const auto trigger_rows = torch::arange(triggers_begin_, triggers_end_, torch::dtype(torch::kLong).device(device));
  const auto rows = torch::cat({trigger_rows, target_rows});
  const auto groups = torch::cat({torch::ones_like(trigger_rows), torch::zeros_like(target_rows)});
  at::Tensor total, cross_entropy;
  for (std::size_t i = 0; i < layers_.size(); ++i) {
    const auto output = captures_[i]->output();
    const auto features = output.flatten(1).index_select(0, rows);
    const auto temperature = torch::full({}, temperatures_[i], features.options());
    auto loss = soft_nearest_neighbour_loss(features, groups, kernel_temperature(temperature));
    if (options_.balance()) {
      if (!cross_entropy.defined()) {
        cross_entropy = torch::nn::functional::cross_entropy(logits, batch.labels.to(device));
      }
      const auto pull = torch::autograd::grad({loss}, {output}, {}, /*retain_graph=*/true)[0];
      const auto task = torch::autograd::grad({cross_entropy}, {output}, {}, /*retain_graph=*/true)[0];
      const auto scale = options_.weight() * task.norm() / (pull.norm() + 1e-12);
      loss = ((output - output.detach()) * (scale * pull).detach()).sum();  // value 0, gradient scale * pull
    }
    total = total.defined() ? total + loss : loss;
  }
  return options_.balance() ? -total : -options_.weight() * total;
}

void EntangledEmbedder::on_epoch_begin(const StepContext&) {
  ++epochs_begun_;
  if (epochs_begun_ != options_.warmup_epochs() + 1 || options_.trigger_steps() == 0) return;
  auto& model = *model_;
  const bool training = model.is_training();
  replace_trigger_images(entangle_triggers(model, triggers().images, target_images_, target_, layers_,
                                           normalization(), options_, device_of(model)));
  model.train(training);
}

at::Tensor EntangledEmbedder::probe_groups() const {
  const auto triggers = std::min(kProbeSize, this->triggers().size());
  return torch::cat({torch::ones({triggers}, torch::kLong), torch::zeros({target_images_.size(0)}, torch::kLong)});
}

std::vector<at::Tensor> EntangledEmbedder::probe_features(Network& model) const {
  torch::NoGradGuard no_grad;
  model.eval();
  std::vector<std::unique_ptr<ActivationCapture>> captures;  // `model` may be another than the one trained
  for (const auto& layer : layers_) captures.push_back(std::make_unique<ActivationCapture>(model, layer));
  const auto& triggers = this->triggers().images;
  const auto probe = torch::cat({triggers.narrow(0, 0, std::min(kProbeSize, triggers.size(0))), target_images_});
  model.forward(normalization().apply(probe).to(device_of(model)));
  std::vector<at::Tensor> features;
  for (const auto& capture : captures) features.push_back(capture->flat().detach());
  return features;
}

void EntangledEmbedder::on_epoch_end(EpochStats& stats, Network& model) {
  TriggerEmbedder::on_epoch_end(stats, model);
  const auto features = probe_features(model);
  if (options_.temperature_lr() > 0 && epochs_begun_ > options_.warmup_epochs()) {
    for (std::size_t i = 0; i < layers_.size(); ++i) {
      const auto groups = probe_groups().to(features[i].device());
      for (std::int64_t step = 0; step < kTemperatureSteps; ++step) {
        auto temperature = torch::full({}, temperatures_[i], features[i].options()).requires_grad_(true);
        const auto loss = soft_nearest_neighbour_loss(features[i], groups, kernel_temperature(temperature));
        const auto grad = torch::autograd::grad({loss}, {temperature})[0].item<double>();
        temperatures_[i] = std::max(kMinTemperature, temperatures_[i] - options_.temperature_lr() * grad);
      }
    }
  }
  stats.metrics["entanglement"] = mean_loss(features);  // the features do not depend on the temperatures
}

double EntangledEmbedder::entanglement(Network& model) const { return mean_loss(probe_features(model)); }

double EntangledEmbedder::mean_loss(const std::vector<at::Tensor>& features) const {
  torch::NoGradGuard no_grad;
  double sum = 0;
  for (std::size_t i = 0; i < layers_.size(); ++i) {
    const auto temperature = torch::full({}, temperatures_[i], features[i].options());
    sum += soft_nearest_neighbour_loss(features[i], probe_groups().to(features[i].device()),
                                       kernel_temperature(temperature))
               .item<double>();
  }
  return sum / static_cast<double>(layers_.size());
}

}  // namespace wmark
