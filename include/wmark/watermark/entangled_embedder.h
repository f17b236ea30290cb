/// \file
/// Entangled trigger embedding (Jia, Choquette-Choo, Chandrasekaran and Papernot,
/// "Entangled Watermarks as a Defense against Model Extraction", USENIX Security
/// 2021): while the model learns its triggers, a soft-nearest-neighbour term pulls the
/// triggers' hidden representations into those of the target class's own data, so
/// that the features that recognise the task also recognise the watermark, and a copy
/// trained to imitate the task is meant to inherit the watermark with it.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <torch/arg.h>

#include "wmark/models/network.h"
#include "wmark/util/export.h"
#include "wmark/watermark/embedder.h"

namespace wmark {

/// The entanglement term of an EntangledEmbedder. Each field is a TORCH_ARG.
struct EntanglementOptions {
  /// Tapped layers whose outputs are entangled; empty: the last three hidden ones
  /// (default_entangled_layers()).
  TORCH_ARG(std::vector<std::string>, layers);
  /// Weight of each layer's loss against the mean cross-entropy. The reference weighs
  /// 32 per layer against a cross-entropy summed over 512 samples on MNIST: 32/512.
  TORCH_ARG(double, weight) = 0.0625;
  /// Weigh the term by its pull, not its value: each layer's term moves the layer's
  /// output along the loss's gradient, scaled to `weight` times the norm of the
  /// cross-entropy's gradient there. The reference leans on Adam, whose steps do not
  /// grow with the gradient; under SGD the value weight that suits Adam wrecks training
  /// (docs/results.md, EWE on CIFAR-10). Costs two gradients through the layers above.
  TORCH_ARG(bool, balance) = false;
  /// Initial temperature of every layer in the reference's units: the kernel is
  /// exp(-100 d / T) on cosine distance d (the reference: 1 on MNIST).
  TORCH_ARG(double, temperature) = 1.0;
  /// Step of the temperature update that lowers the loss after each epoch (the
  /// reference: 0.1); 0 keeps the temperatures fixed.
  TORCH_ARG(double, temperature_lr) = 0.1;
  /// Clean epochs before the triggers and the term join the batches (the reference
  /// trains its model clean first).
  TORCH_ARG(std::int64_t, warmup_epochs) = 1;
  /// Rounds of the reference's trigger optimisation after the warm-up
  /// (entangle_triggers(); the reference: 10). 0 keeps the triggers as generated, so
  /// that the key re-derives from its secret: docs/results.md found no gain against
  /// extraction from the optimisation on MNIST.
  TORCH_ARG(std::int64_t, trigger_steps) = 0;
  /// Signed-gradient step of that optimisation on the [0,1] pixel scale (the reference: 0.01).
  TORCH_ARG(double, trigger_step) = 0.01;
  /// Largest fraction of the triggers the model may answer with the target class
  /// during that optimisation (the reference's threshold: 0.1).
  TORCH_ARG(double, false_rate) = 0.1;
};

/// The hidden layers an EntangledEmbedder uses by default: the last three of
/// `model.tapped_layers()` before the logits, skipping a container whose own
/// sub-layers are tapped (resnet18's "layers" is "layers.7"). Throws wmark::Error if
/// the model taps no hidden layer.
WMARK_API std::vector<std::string> default_entangled_layers(const Network& model);

/// The reference's trigger optimisation, against `model` as it is (the clean model
/// after the warm-up): `options.trigger_steps()` rounds, each first lowering the target
/// logit by signed-gradient steps while more than `false_rate` of the triggers are
/// answered with `target` (at most 50 such steps in all), then one signed-gradient step
/// that raises the soft nearest neighbour loss between the triggers and
/// `target_images` at `layers`; then 5 steps lowering the target logit. The triggers
/// end near the target class's features yet answered with their own class by the
/// model. Steps of `options.trigger_step()`, pixels kept in range and rounded to whole
/// levels at the end. Leaves the model in eval mode and its gradients untouched.
WMARK_API at::Tensor entangle_triggers(Network& model, const at::Tensor& triggers, const at::Tensor& target_images,
                                       std::int64_t target, const std::vector<std::string>& layers,
                                       const Normalization& normalization, const EntanglementOptions& options,
                                       c10::Device device);

/// A TriggerEmbedder for triggers that all carry one target label, whose loss adds
/// -weight * sum over layers of the soft nearest neighbour loss
/// (train/soft_nearest_neighbour.h) between the batch's triggers and the batch's clean
/// samples of the target class: raising it entangles the two groups' representations.
/// The first `warmup_epochs` train clean; then, once, the triggers are moved by
/// entangle_triggers() (the key holds the moved images) and join the batches.
/// After every epoch each layer's temperature takes a few steps that lower the loss on
/// a fixed probe (the triggers and `target_images`), as the reference's temperature
/// updates do; a fixed probe keeps data-parallel replicas' temperatures equal.
class WMARK_API EntangledEmbedder : public TriggerEmbedder {
 public:
  /// `model` is the network being trained (its layers are captured while this embedder
  /// lives); `target_images` (uint8 [M,C,H,W], M >= 2) are training images of the
  /// target class for the probe. Requires triggers of one label, a positive weight and
  /// temperature, and layers the model taps; throws wmark::Error otherwise.
  EntangledEmbedder(NetworkPtr model, TriggerSet triggers, WatermarkKey key_base, TriggerEmbedderOptions options,
                    at::Tensor target_images, EntanglementOptions entanglement);
  ~EntangledEmbedder() override;
  /// "ewe".
  std::string method() const override { return "ewe"; }

  /// After the warm-up, the triggers appended as a TriggerEmbedder does (remembering
  /// where they sit); the batch unchanged before.
  Batch mix(const at::Tensor& images, const at::Tensor& labels) override;
  /// After the warm-up: -weight * the summed loss between the triggers of the batch
  /// from the last mix() and its rows of the target class (undefined while either
  /// group is empty); with `balance`, a term of value 0 whose gradient is that pull
  /// (EntanglementOptions::balance). Throws wmark::Error for logits of another batch.
  at::Tensor loss_term(const Batch& batch, const at::Tensor& logits, Network& model) override;
  /// Counts epochs; after the warm-up, moves the triggers once (trigger_steps > 0).
  void on_epoch_begin(const StepContext& context) override;
  /// Adds "trigger_accuracy" and, after the temperature steps, "entanglement".
  void on_epoch_end(EpochStats& stats, Network& model) override;

  /// The mean over layers of the loss between the probe's triggers and target images
  /// at the current temperatures: how entangled `model` (this embedder's or another
  /// tapping the same layers, such as a copy) holds them; higher is more. Leaves the
  /// model in eval mode; throws wmark::Error if it does not tap the layers.
  double entanglement(Network& model) const;
  /// The entangled layers.
  const std::vector<std::string>& layers() const { return layers_; }
  /// Each layer's temperature, in the reference's units.
  const std::vector<double>& temperatures() const { return temperatures_; }

 private:
  std::vector<at::Tensor> probe_features(Network& model) const;
  double mean_loss(const std::vector<at::Tensor>& features) const;  // over layers, at the current temperatures
  at::Tensor probe_groups() const;  // 1 for each of the probe's triggers, 0 for each target image

  NetworkPtr model_;
  at::Tensor target_images_;  // the probe's target-class images, uint8
  EntanglementOptions options_;
  std::vector<std::string> layers_;
  std::vector<std::unique_ptr<ActivationCapture>> captures_;
  std::vector<double> temperatures_;
  std::int64_t target_ = 0;
  std::int64_t triggers_begin_ = 0;
  std::int64_t triggers_end_ = 0;
  std::int64_t epochs_begun_ = 0;
};

}  // namespace wmark
