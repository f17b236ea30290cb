#include "wmark/attack/adversarial_training.h"

#include "attack_options.h"
#include "trained_result.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>

#include "wmark/train/evaluate.h"
#include "wmark/train/trainer.h"
#include "wmark/util/error.h"
#include "wmark/util/random.h"

namespace wmark {
namespace {

// Agreement of `model` with `labels` on PGD examples of `images` crafted against it.
double adversarial_agreement(Network& model, const at::Tensor& images, const at::Tensor& labels,
                             const Normalization& normalization, const AdversarialTrainingOptions& options,
                             c10::Device device) {
  const auto adversarial =
      pgd_examples(model, images, labels, normalization, options.eps(), options.eps_step(), options.max_iter(), device);
  return predict_labels(model, adversarial, normalization, device).eq(labels).to(torch::kDouble).mean().item<double>();
}

}  // namespace

at::Tensor pgd_examples(Network& model, const at::Tensor& images, const at::Tensor& labels,
                        const Normalization& normalization, double eps, double eps_step, std::int64_t max_iter,
                        c10::Device device) {
  WMARK_CHECK(images.dim() == 4 && images.scalar_type() == torch::kUInt8 && labels.size(0) == images.size(0),
              "pgd_examples expects uint8 images [N,C,H,W] and as many labels, got ", images.sizes(), " and ",
              labels.sizes());
  model.eval();
  std::vector<at::Tensor> parts;
  for (std::int64_t start = 0; start < images.size(0); start += 250) {
    const auto count = std::min<std::int64_t>(250, images.size(0) - start);
    const auto clean = images.narrow(0, start, count).to(device).to(torch::kFloat) / 255.0;
    const auto target = labels.narrow(0, start, count).to(device);
    auto x = clean.clone();
    for (std::int64_t step = 0; step < max_iter; ++step) {
      x.set_requires_grad(true);
      const auto loss = torch::cross_entropy_loss(model.forward(normalization.apply(x * 255.0)), target);
      const auto gradient = torch::autograd::grad({loss}, {x})[0];  // leaves the parameters' .grad alone
      x = torch::min(torch::max(x.detach() + eps_step * gradient.sign(), clean - eps), clean + eps).clamp(0, 1);
    }
    parts.push_back(x.mul(255).round().to(torch::kUInt8).cpu());
  }
  return parts.empty() ? images.clone() : torch::cat(parts);
}

const OptionBinding<AdversarialTrainingOptions>& AdversarialTrainingAttack::declared_options() {
  static const auto binding = [] {
    OptionBinding<AdversarialTrainingOptions> b("the adversarial-training attack");
    b.describe("Fine-tune on the victim's answers and on PGD adversarial examples of the thief's images")
        .number(WMARK_OPTION_FIELD(eps), "L-infinity radius on the [0,1] pixel scale", 0.0, 1.0)
        .number(WMARK_OPTION_FIELD(eps_step), "PGD step on the [0,1] pixel scale", 1e-6, 1.0)
        .integer(WMARK_OPTION_FIELD(max_iter), "PGD steps per example", 1, 10000)
        .number(WMARK_OPTION_FIELD(ratio), "fraction of the thief's images given an adversarial example each epoch",
                0.01, 1.0)
        .integer(WMARK_OPTION_FIELD(epochs), "training epochs (examples crafted anew before each)", 1, 10000);
    return declare_optimizer(b, "training");
  }();
  return binding;
}

AdversarialTrainingAttack::AdversarialTrainingAttack(AdversarialTrainingOptions options)
    : options_(declared_options().checked(options)) {}

nlohmann::json AdversarialTrainingAttack::options() const { return declared_options().write(options_); }

AttackResult AdversarialTrainingAttack::run(Network& victim, const AttackContext& context) const {
  const auto device = context.training.device();
  auto data = context.data;
  // The thief trains on the victim's answers, not on labels of their own (the toolbox's default).
  data.labels = predict_labels(victim, data.images, data.normalization, device);
  data.soft_labels = at::Tensor();
  auto model = clone_network(victim, context.make_model);
  model->to(device);
  const auto probe = std::max<std::int64_t>(1, data.size() / 5);
  const auto probe_images = data.images.narrow(0, 0, probe);
  const auto probe_labels = data.labels.narrow(0, 0, probe);
  const double victim_robustness =
      adversarial_agreement(*model, probe_images, probe_labels, data.normalization, options_, device);

  auto generator = make_generator(derive_seed(context.seed, "adversarial-training-picks"));
  const auto count = std::max<std::int64_t>(
      1, static_cast<std::int64_t>(std::floor(options_.ratio() * static_cast<double>(data.size()))));
  TrainResult fit;
  for (std::int64_t epoch = 0; epoch < options_.epochs(); ++epoch) {
    const auto picked = torch::randperm(data.size(), generator, torch::kLong).narrow(0, 0, count);
    auto epoch_data = data;
    epoch_data.images = torch::cat({data.images, pgd_examples(*model, data.images.index_select(0, picked),
                                                              data.labels.index_select(0, picked), data.normalization,
                                                              options_.eps(), options_.eps_step(),
                                                              options_.max_iter(), device)});
    epoch_data.labels = torch::cat({data.labels, data.labels.index_select(0, picked)});
    // One epoch per fit: a fresh optimiser each time, as the examples change each time.
    const auto one = Trainer(model, attack_training(context.training, options_.optimizer(), options_.lr(), 1,
                                                    context.seed, "adversarial-training-" + std::to_string(epoch)))
                         .fit(epoch_data);
    fit.history.insert(fit.history.end(), one.history.begin(), one.history.end());
  }
  auto result = trained_result(model, context, fit);
  result.details["adversarial_per_epoch"] = count;
  result.details["victim_adversarial_accuracy"] = victim_robustness;
  result.details["copy_adversarial_accuracy"] =
      adversarial_agreement(*model, probe_images, probe_labels, data.normalization, options_, device);
  return result;
}

}  // namespace wmark
