#include "wmark/attack/random_occlusion.h"

#include "attack_options.h"
#include "trained_result.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>

#include "wmark/train/trainer.h"
#include "wmark/util/error.h"
#include "wmark/util/random.h"

namespace wmark {

at::Tensor occluded(const at::Tensor& images, double ratio, at::Generator& generator) {
  WMARK_CHECK(images.dim() == 4 && images.scalar_type() == torch::kUInt8, "occluded expects uint8 images [N,C,H,W], got ",
              images.sizes(), " ", images.scalar_type());
  WMARK_CHECK(ratio > 0 && ratio <= 0.5, "occlusion ratio must be in (0, 0.5], got ", ratio);
  const auto n = images.size(0), height = images.size(2), width = images.size(3);
  // Sizes in [1, limit), corners anywhere; one rectangle per image, as index ranges.
  auto draw = [&](std::int64_t side) {
    const auto limit = std::max<std::int64_t>(2, static_cast<std::int64_t>(2 * ratio * static_cast<double>(side)));
    const auto size = torch::randint(1, limit, {n, 1}, generator, torch::kLong);
    const auto start = torch::randint(0, side, {n, 1}, generator, torch::kLong);
    const auto at = torch::arange(side, torch::kLong).unsqueeze(0);
    return (at >= start) & (at < start + size);  // [n, side]
  };
  const auto rows = draw(height), cols = draw(width);
  const auto mask = (rows.unsqueeze(2) & cols.unsqueeze(1)).unsqueeze(1);  // [n,1,H,W]
  const auto noise = torch::randint(0, 256, images.sizes(), generator, torch::kLong).to(torch::kUInt8);
  return torch::where(mask, noise, images);
}

const OptionBinding<RandomOcclusionOptions>& RandomOcclusionAttack::declared_options() {
  static const auto binding = [] {
    OptionBinding<RandomOcclusionOptions> b("the random-occlusion attack");
    b.describe("Fine-tune on the thief's images and copies with a random rectangle of noise pasted in")
        .integer(WMARK_OPTION_FIELD(repeats), "rounds, each with fresh occlusions", 1, 1000)
        .integer(WMARK_OPTION_FIELD(epochs), "training epochs per round", 1, 10000)
        .number(WMARK_OPTION_FIELD(max_occlusion_ratio), "rectangle sides drawn below 2 x this x the image's side",
                0.01, 0.5);
    return declare_optimizer(b, "training");
  }();
  return binding;
}

RandomOcclusionAttack::RandomOcclusionAttack(RandomOcclusionOptions options)
    : options_(declared_options().checked(options)) {}

nlohmann::json RandomOcclusionAttack::options() const { return declared_options().write(options_); }

AttackResult RandomOcclusionAttack::run(Network& victim, const AttackContext& context) const {
  const auto& data = context.data;
  auto model = clone_network(victim, context.make_model);
  auto generator = make_generator(derive_seed(context.seed, "random-occlusion"));
  TrainResult fit;
  for (std::int64_t round = 0; round < options_.repeats(); ++round) {
    auto round_data = data;
    round_data.images = torch::cat({data.images, occluded(data.images, options_.max_occlusion_ratio(), generator)});
    round_data.labels = torch::cat({data.labels, data.labels});
    if (data.soft_labels.defined()) round_data.soft_labels = torch::cat({data.soft_labels, data.soft_labels});
    const auto one = Trainer(model, attack_training(context.training, options_.optimizer(), options_.lr(),
                                                    options_.epochs(), context.seed,
                                                    "random-occlusion-" + std::to_string(round)))
                         .fit(round_data);
    fit.history.insert(fit.history.end(), one.history.begin(), one.history.end());
  }
  auto result = trained_result(model, context, fit);
  result.details["repeats"] = options_.repeats();
  return result;
}

}  // namespace wmark
