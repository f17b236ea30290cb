// "frontier-stitching": Le Merrer, Perez and Tredan, "Adversarial Frontier Stitching for
// Remote Neural Network Watermarking" (Neural Computing and Applications, 2020).
// Training images are pushed towards the decision frontier with FGSM; those the model
// now misclassifies ("true adversaries") and those it still classifies right ("false
// adversaries") are fine-tuned in with their original labels, which moves the frontier
// around them alone. The paper verifies on all keys against a fair coin per key; wmark
// queries only the true adversaries: a false adversary is answered correctly by nearly
// any accurate model, so counting it would claim models never marked (docs/schemes.md).
#include <torch/torch.h>

#include <algorithm>

#include "../derivation_support.h"
#include "../fgsm_step.h"
#include "../key_base.h"
#include "../keyed_finetune.h"
#include "builtin_schemes.h"
#include "wmark/train/evaluate.h"
#include "wmark/util/error.h"
#include "wmark/util/log.h"

namespace wmark::schemes {
namespace {

using json = nlohmann::json;

class FrontierStitchingScheme final : public Scheme {
 public:
  explicit FrontierStitchingScheme(const json& options) : options_(schema().read(options)) {
    WMARK_CHECK(options_.at("min_keys").get<std::int64_t>() <= options_.at("trigger_size").get<std::int64_t>() / 2,
                "frontier-stitching: min_keys must be at most half of trigger_size (the true adversaries)");
  }

  std::string name() const override { return "frontier-stitching"; }

  OptionSchema schema() const override {
    return OptionSchema("the frontier-stitching scheme")
        .integer("trigger_size", 100, "key samples, half true and half false adversaries (the paper: 100)", 2, 100000)
        .number("epsilon", 0.25, "FGSM step on the [0,1] pixel scale (the paper: 0.025, 0.1 or 0.25)", 0.001, 1.0)
        .integer("oversample", 10, "training images tried per key sample", 1, 1000)
        .integer("finetune_epochs", 5, "most fine-tuning epochs (stops once every key sample is learnt)", 1, 1000)
        .integer("min_keys", 10, "fewest true adversaries accepted", 1);
  }

  json options() const override { return options_; }
  KeyKind key_kind() const override { return KeyKind::black_box; }
  bool starts_from_clean_model() const override { return true; }

  EmbedResult embed(const EmbedRequest& request) const override {
    const auto& train = request.splits.train;
    const auto device = request.training.device();
    const auto half = options_.at("trigger_size").get<std::int64_t>() / 2;
    const auto epsilon = options_.at("epsilon").get<double>();
    const auto clean = train_clean_model(request.model, request.splits, request.training, request.info,
                                         request.pretrained);
    auto& model = *request.model;

    // Candidates: training images in a keyed order that the clean model gets right.
    const auto tried = std::min(train.size(), half * 2 * options_.at("oversample").get<std::int64_t>());
    const auto picked = request.secret.stream("frontier-candidates").sample(train.size(), tried);
    auto images = train.images.index_select(0, picked);
    auto labels = train.labels.index_select(0, picked);
    const auto right = predict_labels(model, images, train.normalization, device).eq(labels).nonzero().flatten();
    images = images.index_select(0, right);
    labels = labels.index_select(0, right);
    const auto moved = fgsm_step(model, images, labels, train.normalization, epsilon, device);
    const auto answered = predict_labels(model, moved, train.normalization, device);
    // A true adversary must fool the references (clean models of the task) too, or a
    // clean model would answer its original label and look marked.
    auto is_true = answered.ne(labels);
    for (const auto& reference : request.references) {
      check_model(*reference, ModelSpec{train.shape(), train.num_classes}, "reference model");
      reference->to(device);
      is_true &= predict_labels(*reference, moved, train.normalization, device).ne(labels);
    }
    const auto true_at = is_true.nonzero().flatten();
    const auto false_at = answered.eq(labels).nonzero().flatten();
    const auto keys = std::min(half, true_at.size(0));
    WMARK_CHECK(keys >= options_.at("min_keys").get<std::int64_t>(), "frontier-stitching: only ", true_at.size(0),
                " of ", images.size(0), " FGSM images (epsilon ", epsilon, ") are true adversaries",
                request.references.empty() ? "" : " of every reference model", "; ",
                options_.at("min_keys").get<std::int64_t>(), " needed: raise epsilon or oversample");
    const auto true_keep = true_at.narrow(0, 0, keys);
    const auto false_keep = false_at.narrow(0, 0, std::min(half, false_at.size(0)));
    logger()->info("frontier-stitching: {} true and {} false adversaries", keys, false_keep.size(0));

    TriggerSet stitched;  // both kinds, with their original labels
    stitched.images = torch::cat({moved.index_select(0, true_keep), moved.index_select(0, false_keep)}).contiguous();
    stitched.labels = torch::cat({labels.index_select(0, true_keep), labels.index_select(0, false_keep)}).contiguous();
    stitched.source_labels = stitched.labels.clone();
    auto base = key_base(train, request.info.arch);
    base.secret = request.secret;
    base.params.update({{"generator", "frontier-stitching"},
                        {"epsilon", epsilon},
                        {"label_policy", "original"},
                        {"references", request.references.size()},
                        {"chance_rate", 0.5}});
    auto result = fine_tune_on_keys(request.model, request.splits, request.training, stitched, std::move(base),
                                    options_.at("finetune_epochs").get<std::int64_t>(), "frontier-finetune",
                                    request.info, clean);
    result.key.method = name();
    result.key.tensors["images"] = moved.index_select(0, true_keep).contiguous();
    result.key.tensors["labels"] = labels.index_select(0, true_keep).contiguous();
    result.key.tensors["false_images"] = moved.index_select(0, false_keep).contiguous();
    result.key.tensors["false_labels"] = labels.index_select(0, false_keep).contiguous();
    result.details.update({{"true_adversaries", keys},
                           {"false_adversaries", false_keep.size(0)},
                           {"false_accuracy", accuracy(model, result.key.tensors["false_images"],
                                                       result.key.tensors["false_labels"], train.normalization, device)},
                           {"trigger_ratio", result.trigger_ratio}});
    return result;
  }

  // The paper's null hypothesis: a model that was not stitched answers a key sample's
  // label like a fair coin. For true adversaries (which fooled the marking model before
  // stitching, and every reference) a clean model usually does worse: the floor is a
  // heuristic, and docs/results.md measures clean models against it.
  double chance_rate(const json&, std::int64_t) const override { return 0.5; }

  KeyDerivation check_derivation(const WatermarkKey&, const std::optional<std::filesystem::path>&) const override {
    return derivation::not_derivable(
        "frontier-stitching keys are adversarial images of the model they were made with, labelled with their true "
        "classes; nothing re-derives them from the secret, and such images with true labels can be made for any model");
  }

 private:
  json options_;
};

}  // namespace

std::unique_ptr<Scheme> make_frontier_stitching(const json& options) {
  return std::make_unique<FrontierStitchingScheme>(options);
}

}  // namespace wmark::schemes
