// "adi": Adi et al., "Turning Your Weakness Into a Strength" (USENIX Security 2018):
// abstract images with random labels, embedded from scratch or by fine-tuning. Each
// trigger is drawn from a seed of its own and the key commits to each seed separately
// (watermark/trigger_commitments.h), so a verification opens only the triggers the
// verifier asks for, and each opened trigger is re-drawn from its seed.
#include <torch/torch.h>

#include "../derivation_support.h"
#include "../key_base.h"
#include "builtin_schemes.h"
#include "wmark/util/error.h"
#include "wmark/watermark/trigger/abstract_trigger.h"
#include "wmark/watermark/trigger_commitments.h"

namespace wmark::schemes {
namespace {

using json = nlohmann::json;
using derivation::not_derivable;

class AdiScheme final : public Scheme {
 public:
  explicit AdiScheme(const json& options) : options_(schema().read(options)) {}

  std::string name() const override { return "adi"; }

  OptionSchema schema() const override {
    return with_trigger_training_options(OptionSchema("the adi scheme")
                                             .integer("trigger_size", 100, "abstract images (the paper: 100)", 1, 100000)
                                             .integer("shapes", AbstractTriggerOptions().shapes(),
                                                      "shapes drawn on each abstract image", 1, 64));
  }

  json options() const override { return options_; }
  KeyKind key_kind() const override { return KeyKind::black_box; }

  EmbedResult embed(const EmbedRequest& request) const override {
    const auto& train = request.splits.train;
    const auto count = options_.at("trigger_size").get<std::int64_t>();
    const AbstractTriggerOptions abstract(AbstractTriggerOptions().shapes(options_.at("shapes").get<std::int64_t>()));
    const auto seeds = trigger_seeds(request.secret, count);
    auto triggers = triggers_from_seeds(seeds, request.secret.owner_public_key, abstract, train.shape(),
                                        train.num_classes);
    auto base = key_base(train, request.info.arch);
    base.secret = request.secret;
    base.params.update({{"generator", "abstract"},
                        {"generator_options", {{"shapes", abstract.shapes()}}},
                        {"label_policy", "random"},
                        {"chance_rate", chance_rate(json(), train.num_classes)}});
    auto options = trigger_training_options(options_, request.pretrained);
    auto embedder_options = options.embedder();
    if (embedder_options.trigger_ratio() <= 0)
      embedder_options.trigger_ratio(auto_trigger_ratio(train.size(), count, "random"));
    base.params["trigger_ratio"] = embedder_options.trigger_ratio();
    auto embedder = std::make_shared<TriggerEmbedder>(std::move(triggers), std::move(base), embedder_options);
    auto result = embed_with_trigger_embedder(request.model, request.splits, request.training, embedder,
                                              options.min_trigger_accuracy(), options.max_extra_epochs(), request.info,
                                              request.pretrained);
    result.key.method = name();
    result.key.tensors["commitments"] = commit_seeds(seeds);
    result.details.update(trigger_training_details(result, "abstract"));
    result.details["commitments"] = count;
    return result;
  }

  // Labels are keyed and uniform over all C classes, independent of the image.
  double chance_rate(const json&, std::int64_t num_classes) const override {
    return 1.0 / static_cast<double>(num_classes);
  }

  // Images and labels need only the secret, the owner and the shape; so do the commitments.
  KeyDerivation check_derivation(const WatermarkKey& key, const std::optional<std::filesystem::path>&) const override {
    const auto& labels = key.tensor("labels");
    const auto options = key.params.value("generator_options", json::object());
    if (!options.is_object() || !options.contains("shapes") || !options["shapes"].is_number_integer())
      return not_derivable("its abstract-image options are missing");
    const auto seeds = trigger_seeds(key.secret, labels.size(0));
    TriggerSet derived;
    try {
      derived = triggers_from_seeds(seeds, key.secret.owner_public_key,
                                    AbstractTriggerOptions().shapes(options["shapes"].get<std::int64_t>()),
                                    key.input_shape, key.num_classes);
    } catch (const Error& error) {
      return not_derivable(std::string("its abstract images cannot be re-derived: ") + error.what());
    }
    if (!derivation::same(key.tensor("images"), derived.images))
      return not_derivable("its abstract images are not the ones its secret derives");
    if (!derivation::same(labels, derived.labels))
      return not_derivable("its labels are not the ones its secret derives");
    if (!derivation::same(key.tensor("commitments"), commit_seeds(seeds)))
      return not_derivable("its trigger commitments are not the ones its secret derives");
    return {true, ""};
  }

 private:
  json options_;
};

}  // namespace

std::unique_ptr<Scheme> make_adi(const json& options) { return std::make_unique<AdiScheme>(options); }

}  // namespace wmark::schemes
