// "deepsigns-output": DeepSigns' black-box output-layer keys (watermark/output_keys.h).
#include <torch/torch.h>

#include <algorithm>

#include "../derivation_support.h"
#include "builtin_schemes.h"
#include "wmark/watermark/output_keys.h"

namespace wmark::schemes {
namespace {

using json = nlohmann::json;

class OutputKeyScheme final : public Scheme {
 public:
  explicit OutputKeyScheme(const json& options) : options_(schema().read(options)) {}

  std::string name() const override { return "deepsigns-output"; }

  OptionSchema schema() const override {
    const OutputKeyOptions o;
    return OptionSchema("the deepsigns-output scheme")
        .integer("trigger_size", o.keys(), "keys kept", 1, 100000)
        .integer("oversample", o.oversample(), "candidates drawn per kept key", 2, 1000)
        .text("source", o.source(), "candidate keys from uniform noise or perturbed training images",
              {"noise", "perturbed"})
        .flag("key-source")
        .number("perturbation", o.perturbation(), "noise std of perturbed candidates, in pixel values", 0.0, 255.0)
        .integer("finetune_epochs", o.finetune_epochs(), "most fine-tuning epochs", 1, 1000)
        .integer("min_keys", o.min_keys(), "fewest surviving keys accepted (at most trigger_size)", 1);
  }

  json options() const override { return options_; }
  KeyKind key_kind() const override { return KeyKind::black_box; }
  bool starts_from_clean_model() const override { return true; }

  EmbedResult embed(const EmbedRequest& request) const override {
    const auto keys = options_.at("trigger_size").get<std::int64_t>();
    auto options = OutputKeyOptions()
                       .keys(keys)
                       .oversample(options_.at("oversample").get<std::int64_t>())
                       .source(options_.at("source").get<std::string>())
                       .perturbation(options_.at("perturbation").get<double>())
                       .finetune_epochs(options_.at("finetune_epochs").get<std::int64_t>())
                       .min_keys(std::min(options_.at("min_keys").get<std::int64_t>(), keys))
                       .secret(request.secret);
    std::vector<NetworkPtr> references;
    for (const auto& reference : request.references) {
      reference->to(request.training.device());
      references.push_back(reference);
    }
    auto result = embed_output_keys(request.model, request.splits, request.training, options, references,
                                    request.info, request.pretrained);
    result.details.update({{"trigger_ratio", result.trigger_ratio}, {"references", references.size()}});
    return result;
  }

  // Labels are drawn from the C-1 classes other than the marking model's own answer.
  double chance_rate(const json&, std::int64_t num_classes) const override {
    return 1.0 / static_cast<double>(num_classes - 1);
  }

  KeyDerivation check_derivation(const WatermarkKey&, const std::optional<std::filesystem::path>&) const override {
    return derivation::not_derivable(
        "deepsigns-output keys take their labels from the model they were made with; nothing re-derives them from "
        "the secret");
  }

 private:
  json options_;
};

}  // namespace

std::unique_ptr<Scheme> make_output_keys(const json& options) { return std::make_unique<OutputKeyScheme>(options); }

}  // namespace wmark::schemes
