/// \file
/// The input-preprocessing attacks: the thief deploys the stolen model behind an input
/// transform (input_transform.h). The weights stay the victim's; what changes is what
/// reaches them. A PreprocessedNetwork is that deployment as one Network, so accuracy,
/// black-box verification and `wmark serve --preprocess` see exactly what the thief's
/// clients see.
#pragma once

#include <memory>
#include <string>

#include "wmark/attack/attack.h"
#include "wmark/attack/input_transform.h"
#include "wmark/models/network.h"

namespace wmark {

/// A model behind an input transform: forward() takes the model's normalised input,
/// recovers the pixels, transforms them and normalises them again for the model.
class WMARK_API PreprocessedNetwork : public Network {
 public:
  /// `normalization` is the model's (its training data's). Requires a model and a transform.
  PreprocessedNetwork(NetworkPtr model, std::shared_ptr<const InputTransform> transform, Normalization normalization);
  /// The model's logits for the transformed input.
  torch::Tensor forward(torch::Tensor x) override;
  /// The model behind the transform.
  NetworkPtr model() const { return model_; }
  /// The transform.
  const InputTransform& transform() const { return *transform_; }

 private:
  NetworkPtr model_;
  std::shared_ptr<const InputTransform> transform_;
  at::Tensor mean_, stddev_;  // [1,C,1,1]; undefined for a normalisation that only scales
};

/// The attack of deploying behind one input transform: named and configured as the
/// transform; run() returns a copy of the victim with AttackResult::preprocess set.
class WMARK_API InputPreprocessingAttack : public Attack {
 public:
  /// Requires a transform.
  explicit InputPreprocessingAttack(std::shared_ptr<const InputTransform> transform);
  /// The transform's name: "jpeg-compression", ...
  std::string name() const override { return transform_->name(); }
  /// The transform's options.
  nlohmann::json options() const override { return transform_->options(); }
  /// Details: "transform" (its name), "options"; the agreement of the deployment with the
  /// victim on the attacker's data ("agreement").
  AttackResult run(Network& victim, const AttackContext& context) const override;

 private:
  std::shared_ptr<const InputTransform> transform_;
};

/// Registers an InputPreprocessingAttack for every transform in `transforms` (under the
/// transform's name, with its declared options) in `attacks`.
WMARK_API void add_preprocessing_attacks(AttackRegistry& attacks, const InputTransformRegistry& transforms);

}  // namespace wmark
