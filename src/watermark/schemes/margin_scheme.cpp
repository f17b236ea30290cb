// "margin": Kim, Lee, Lee, Son and Hwang, "Margin-based Neural Network Watermarking"
// (ICML 2023). The key is natural images of the task with keyed wrong labels; every
// time a batch learns them they are first pushed by projected gradient ascent away
// from those labels (margin_embedder.h), so the model holds each label over a box of
// steps * step around its image. The paper's claim: a copy extracted from the model's
// answers inherits that margin, where plain trigger sets are lost. docs/results.md
// measures the claim against wmark's extraction attacks.
#include <torch/torch.h>

#include "builtin_schemes.h"
#include "wmark/data/subset.h"
#include "wmark/train/evaluate.h"
#include "wmark/util/error.h"
#include "wmark/watermark/margin_embedder.h"

namespace wmark::schemes {
namespace {

using json = nlohmann::json;

class MarginScheme final : public TriggerKeyScheme {
 public:
  explicit MarginScheme(const json& options) : options_(schema().read(options)) {}

  std::string name() const override { return "margin"; }

  OptionSchema schema() const override {
    const MarginOptions margin;
    auto schema = OptionSchema("the margin scheme")
        .integer("trigger_size", 100, "key samples: training images with keyed wrong labels (the paper: 100)", 1, 100000)
        .integer("steps", margin.steps(), "gradient-ascent steps on the triggers per batch (the paper: 5)", 0, 100)
        .number("step", margin.step(), "ascent step on the [0,1] pixel scale (the paper: 1/255)", 1e-6, 1.0);
    return with_trigger_training_options(schema);
  }

  json options() const override { return options_; }

  EmbedResult embed(const EmbedRequest& request) const override {
    const auto& train = request.splits.train;
    TriggerSpec spec;
    spec.size = options_.at("trigger_size").get<std::int64_t>();
    spec.label_policy = "random";
    auto options = trigger_options_for(request, options_, "natural", spec);
    const auto margin = MarginOptions()
                            .steps(options_.at("steps").get<std::int64_t>())
                            .step(options_.at("step").get<double>());
    auto parts = prepare_triggers(train, options, request.info.arch);
    parts.key_base.params.update({{"margin_steps", margin.steps()}, {"margin_step", margin.step()}});

    // The key images are training images: learnt with their true labels too, they
    // would be taught two answers.
    auto splits = request.splits;
    splits.train = without_images(train, parts.triggers.images);
    const auto left_out = train.size() - splits.train.size();
    auto embedder = std::make_shared<MarginEmbedder>(request.model, std::move(parts.triggers),
                                                     std::move(parts.key_base), parts.embedder, margin);
    auto result = embed_with_trigger_embedder(request.model, splits, request.training, embedder,
                                              options.min_trigger_accuracy(), options.max_extra_epochs(),
                                              request.info, request.pretrained);
    const auto& triggers = embedder->triggers();
    const auto device = request.training.device();
    const auto moved = margin_ascent(*request.model, triggers.images, triggers.labels, train.normalization, margin,
                                     device);
    result.details.update(trigger_training_details(result, "natural"));
    result.details.update({{"training_images_left_out", left_out},
                           {"margin_trigger_accuracy",
                            accuracy(*request.model, moved, triggers.labels, train.normalization, device)}});
    return result;
  }

 private:
  json options_;
};

}  // namespace

std::unique_ptr<Scheme> make_margin(const json& options) { return std::make_unique<MarginScheme>(options); }

}  // namespace wmark::schemes
