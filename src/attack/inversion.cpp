#include "wmark/attack/inversion.h"

#include <torch/torch.h>

#include "wmark/util/error.h"
#include "wmark/util/random.h"

namespace wmark {

at::Tensor total_variation(const at::Tensor& images) {
  WMARK_CHECK(images.dim() == 4, "total_variation expects images [N,C,H,W], got ", images.sizes());
  const auto h = images.size(2), w = images.size(3);
  auto dy = (images.narrow(2, 1, h - 1) - images.narrow(2, 0, h - 1)).abs().mean();
  auto dx = (images.narrow(3, 1, w - 1) - images.narrow(3, 0, w - 1)).abs().mean();
  return dx + dy;
}

const OptionBinding<InversionOptions>& InversionAttack::declared_options() {
  static const auto binding = OptionBinding<InversionOptions>("the inversion attack")
      .describe("Recover an image per class from the model, to see whether the triggers show")
      .integer(WMARK_OPTION_FIELD(steps), "Adam steps per image", 1, 1000000)
      .number(WMARK_OPTION_FIELD(lr), "Adam learning rate on the image", 1e-9)
      .number(WMARK_OPTION_FIELD(tv_weight), "weight of the smoothness (total variation) prior", 0.0)
      .number(WMARK_OPTION_FIELD(l2_weight), "weight of the pull towards mid-grey", 0.0)
      .integer(WMARK_OPTION_FIELD(per_class), "images recovered per class", 1, 1000);
  return binding;
}

InversionAttack::InversionAttack(InversionOptions options) : options_(declared_options().checked(options)) {}

nlohmann::json InversionAttack::options() const { return declared_options().write(options_); }

AttackResult InversionAttack::run(Network& victim, const AttackContext& context) const {
  const auto& data = context.data;
  const auto classes = data.num_classes;
  const auto shape = data.shape();
  WMARK_CHECK(classes >= 2 && shape.channels > 0, "inversion needs the attacker data's shape and class count");
  const auto device = context.training.device();
  const auto k = classes * options_.per_class();
  auto targets = torch::arange(classes, torch::kLong).repeat_interleave(options_.per_class()).to(device);

  // Images live in logit space (pixel = sigmoid(z)), so every step stays a valid image.
  // Start: noise around the data's mean brightness per channel, the exposure the model
  // was trained on (MNIST is mostly black), not a mid-grey the model never saw.
  auto generator = make_generator(derive_seed(context.seed, "inversion-start"));
  auto mean = (data.images.to(torch::kFloat).mean({0, 2, 3}, true) / 255.0).clamp(0.02, 0.98);
  auto z = ((mean / (1 - mean)).log() + torch::randn({k, shape.channels, shape.height, shape.width}, generator))
               .to(device);
  z.set_requires_grad(true);
  victim.eval();
  // Gradients with respect to the images only; the parameters' flags are restored after.
  std::vector<bool> requires_grad;
  for (auto& p : victim.parameters()) {
    requires_grad.push_back(p.requires_grad());
    p.set_requires_grad(false);
  }
  auto scores = [&](const at::Tensor& pixels) {
    auto logits = victim.forward(data.normalization.apply(pixels * 255.0));
    return logits.gather(1, targets.unsqueeze(1)).squeeze(1);
  };
  at::Tensor before;
  {
    torch::NoGradGuard no_grad;
    before = scores(torch::sigmoid(z)).cpu();
  }
  torch::optim::Adam optimizer({z}, torch::optim::AdamOptions(options_.lr()));
  for (std::int64_t step = 0; step < options_.steps(); ++step) {
    optimizer.zero_grad();
    auto pixels = torch::sigmoid(z);
    // Summed over the images, so each image's score and prior keep the same balance
    // whatever the number of images (total_variation() averages over the batch).
    const double images = static_cast<double>(k);
    auto loss = -scores(pixels).sum() + options_.tv_weight() * images * total_variation(pixels) +
                options_.l2_weight() * images * (pixels - 0.5).pow(2).mean();
    loss.backward();
    optimizer.step();
  }
  auto params = victim.parameters();
  for (size_t i = 0; i < params.size(); ++i) params[i].set_requires_grad(requires_grad[i]);

  AttackResult result;
  result.arch = context.arch;
  auto pixels = torch::sigmoid(z.detach());
  result.images = (pixels * 255.0).round().clamp(0, 255).to(torch::kUInt8).cpu().contiguous();
  result.image_labels = targets.cpu();
  at::Tensor after, probability;
  {
    torch::NoGradGuard no_grad;
    // Scores of the images as saved (quantised to uint8), as anyone reusing them would see.
    auto logits = victim.forward(data.normalization.apply(result.images).to(device));
    after = logits.gather(1, targets.unsqueeze(1)).squeeze(1).cpu();
    probability = logits.softmax(1).gather(1, targets.unsqueeze(1)).squeeze(1).cpu();
  }
  nlohmann::json per_image = nlohmann::json::array();
  for (std::int64_t i = 0; i < k; ++i) {
    per_image.push_back({{"class", result.image_labels[i].item<std::int64_t>()},
                         {"score_before", before[i].item<double>()},
                         {"score_after", after[i].item<double>()},
                         {"probability_after", probability[i].item<double>()}});
  }
  result.details = {{"images", per_image}};
  return result;
}

}  // namespace wmark
