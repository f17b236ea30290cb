#include "wmark/attack/feature_regularization.h"

#include "attack_options.h"
#include "trained_result.h"

#include <torch/torch.h>

#include <memory>
#include <vector>

#include "wmark/attack/finetune.h"
#include "wmark/train/evaluate.h"
#include "wmark/train/hooks.h"
#include "wmark/train/trainer.h"
#include "wmark/util/error.h"
#include "wmark/util/random.h"

namespace wmark {
namespace {

// Adds the batch mean of weight[label] * the sample's mean activation, per penalised
// layer. The toolbox sums over the batch (of the batch's overall mean activation), so its
// f_reg weighs batch-size times more than `strength` does here.
class FeaturePenalty : public TrainerHook {
 public:
  FeaturePenalty(Network& model, const std::vector<std::string>& layers, at::Tensor class_weights)
      : class_weights_(std::move(class_weights)) {
    for (const auto& layer : layers) captures_.push_back(std::make_unique<ActivationCapture>(model, layer));
  }

  at::Tensor extra_loss(const Batch& batch, const at::Tensor& logits, Network&, const StepContext&) override {
    const auto weights = class_weights_.to(logits.device()).index_select(0, batch.labels.to(logits.device()));
    at::Tensor total;
    for (const auto& capture : captures_) {
      const auto term = (weights * capture->flat().mean(1)).mean();
      total = total.defined() ? total + term : term;
    }
    return total;
  }

 private:
  at::Tensor class_weights_;
  std::vector<std::unique_ptr<ActivationCapture>> captures_;
};

}  // namespace

const OptionBinding<FeatureRegularizationOptions>& FeatureRegularizationAttack::declared_options() {
  static const auto binding = [] {
    OptionBinding<FeatureRegularizationOptions> b("the feature-regularization attack");
    b.describe("Fine-tune under a random per-class penalty on the hidden features, then fine-tune plainly")
        .number(WMARK_OPTION_FIELD(strength), "class weights of the penalty are drawn from U(0, strength)", 0.0)
        .integer(WMARK_OPTION_FIELD(reg_epochs), "epochs with the feature penalty", 1, 10000)
        .integer(WMARK_OPTION_FIELD(epochs), "plain fine-tuning epochs afterwards", 1, 10000);
    return declare_optimizer(b, "fine-tuning")
        .boolean(WMARK_OPTION_FIELD(augment), "random crops and flips of the attacker's images");
  }();
  return binding;
}

FeatureRegularizationAttack::FeatureRegularizationAttack(FeatureRegularizationOptions options)
    : options_(declared_options().checked(options)) {}

nlohmann::json FeatureRegularizationAttack::options() const { return declared_options().write(options_); }

AttackResult FeatureRegularizationAttack::run(Network& victim, const AttackContext& context) const {
  auto model = clone_network(victim, context.make_model);
  const auto& data = context.data;
  // Every tapped layer but the one producing the class scores.
  const auto output = output_layer_weight(*model, data.num_classes);
  const auto output_module = output.substr(0, output.size() - std::string(".weight").size());
  std::vector<std::string> layers;
  for (const auto& layer : model->tapped_layers()) {
    if (layer != output_module) layers.push_back(layer);
  }
  WMARK_CHECK(!layers.empty(), "feature-regularization: the '", context.arch,
              "' model taps no hidden layer whose features could be penalised");
  auto generator = make_generator(derive_seed(context.seed, "feature-regularization-weights"));
  const auto class_weights = torch::rand({data.num_classes}, generator) * options_.strength();

  auto training = [&](std::int64_t epochs, const std::string& purpose) {
    return attack_training(context.training, options_.optimizer(), options_.lr(), epochs, context.seed, purpose)
        .augment(options_.augment());
  };
  {
    Trainer regularized(model, training(options_.reg_epochs(), "feature-regularization"));
    regularized.add_hook(std::make_shared<FeaturePenalty>(*model, layers, class_weights));
    regularized.fit(data);
  }
  const auto device = context.training.device();
  const double after = accuracy(*model, data, device, context.training.eval_batch_size());
  const auto fit = Trainer(model, training(options_.epochs(), "feature-regularization-finetune")).fit(data);

  auto result = trained_result(model, context, fit);
  result.details["penalized_layers"] = layers;
  result.details["class_weights"] = std::vector<double>(class_weights.data_ptr<float>(),
                                                        class_weights.data_ptr<float>() + class_weights.numel());
  result.details["accuracy_after_regularization"] = after;
  return result;
}

}  // namespace wmark
