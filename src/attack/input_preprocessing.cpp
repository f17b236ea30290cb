#include "wmark/attack/input_preprocessing.h"

#include <torch/torch.h>

#include "wmark/train/evaluate.h"
#include "wmark/util/error.h"

namespace wmark {

PreprocessedNetwork::PreprocessedNetwork(NetworkPtr model, std::shared_ptr<const InputTransform> transform,
                                         Normalization normalization)
    : model_(std::move(model)), transform_(std::move(transform)) {
  WMARK_CHECK(model_ && transform_, "a preprocessed network needs a model and a transform");
  register_module("model", model_);  // train()/eval() and to() reach the model
  if (!normalization.mean.empty()) {
    const auto& n = normalization;
    mean_ = torch::tensor(std::vector<float>(n.mean.begin(), n.mean.end())).view({1, -1, 1, 1});
    stddev_ = torch::tensor(std::vector<float>(n.stddev.begin(), n.stddev.end())).view({1, -1, 1, 1});
  }
}

torch::Tensor PreprocessedNetwork::forward(torch::Tensor x) {
  if (!mean_.defined()) return model_->forward(transform_->apply(x));
  const auto mean = mean_.to(x.device()), stddev = stddev_.to(x.device());
  return model_->forward((transform_->apply(x * stddev + mean) - mean) / stddev);
}

InputPreprocessingAttack::InputPreprocessingAttack(std::shared_ptr<const InputTransform> transform)
    : transform_(std::move(transform)) {
  WMARK_CHECK(transform_, "an input-preprocessing attack needs a transform");
}

AttackResult InputPreprocessingAttack::run(Network& victim, const AttackContext& context) const {
  AttackResult result;
  result.model = clone_network(victim, context.make_model);
  result.arch = context.arch;
  result.preprocess = transform_;
  const auto& data = context.data;
  const auto device = context.training.device();
  PreprocessedNetwork deployed(result.model, transform_, data.normalization);
  const auto own = predict_labels(victim, data.images, data.normalization, device);
  const auto served = predict_labels(deployed, data.images, data.normalization, device);
  result.details = {{"transform", transform_->name()},
                    {"options", transform_->options()},
                    {"agreement", own.eq(served).to(torch::kDouble).mean().item<double>()}};
  return result;
}

void add_preprocessing_attacks(AttackRegistry& attacks, const InputTransformRegistry& transforms) {
  for (const auto& name : transforms.names()) {
    const auto* schema = transforms.schema(name);
    WMARK_CHECK(schema, "input transform '", name, "' declares no options");
    attacks.add(
        name,
        [&transforms, name](const nlohmann::json& options) -> std::unique_ptr<Attack> {
          return std::make_unique<InputPreprocessingAttack>(
              std::shared_ptr<const InputTransform>(transforms.create(name, options)));
        },
        *schema, transforms.summary(name));
  }
}

}  // namespace wmark
