/// \file
/// White-box activation watermark after Rouhani et al., "DeepSigns: An End-to-End
/// Watermarking Framework for Ownership Protection of Deep Neural Networks" (ASPLOS
/// 2019): N secret bits hidden in the mean activation of a hidden layer over secret key
/// inputs, read back by running those inputs through the suspect model.
///
/// The key inputs are training samples of secret target classes. With f(x) the layer's
/// flattened activation (D values), mu the mean of f over the key inputs and A a secret
/// D x N matrix drawn from the secret, training adds
///   compactness * loss1 + strength * BCE(sigmoid(mu A), b)
/// where loss1 is the Gaussian-mixture prior on the target classes: the squared distance
/// of each target-class activation to its class centre (a running mean), plus a hinge
/// that keeps the centres of different target classes at least `separation` apart (both
/// per feature). Extraction: b' = step(mu A), compared with b.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <torch/arg.h>

#include "wmark/data/dataset.h"
#include "wmark/models/network.h"
#include "wmark/util/export.h"
#include "wmark/watermark/embedder.h"
#include "wmark/watermark/key_secret.h"

namespace wmark {

/// Options of DeepSignsEmbedder.
struct DeepSignsOptions {
  /// Module path of the hidden layer (one of the model's tapped_layers()); "" = the last
  /// tapped layer before the logits layer.
  TORCH_ARG(std::string, layer) = "";
  /// Number of bits N.
  TORCH_ARG(std::int64_t, bits) = 64;
  /// Text whose UTF-8 bits are embedded, cycled to N bits; empty = N random bits from the secret.
  TORCH_ARG(std::string, signature) = "";
  /// Target classes whose samples become key inputs; empty = one class drawn from the secret.
  TORCH_ARG(std::vector<std::int64_t>, target_classes) = {};
  /// Key inputs (training samples of the target classes, drawn from the secret).
  TORCH_ARG(std::int64_t, key_inputs) = 100;
  /// Key inputs appended to every training batch (their mean activation carries the bits).
  TORCH_ARG(std::int64_t, key_batch) = 16;
  /// Weight of the bit loss (BCE).
  TORCH_ARG(double, strength) = 1.0;
  /// Weight of the Gaussian-mixture loss (loss1).
  TORCH_ARG(double, compactness) = 0.01;
  /// Smallest mean squared distance per feature between target-class centres.
  TORCH_ARG(double, separation) = 0.1;
  /// The secret A, the key inputs, random bits and the target class derive from; a fresh
  /// one from the OS CSPRNG unless set.
  TORCH_ARG(KeySecret, secret);
  /// Where key inputs are drawn from: a public dataset's full training split, so that the
  /// key re-derives (watermark/derivation.h); unset = the training data itself.
  TORCH_ARG(std::optional<Dataset>, sources);
};

/// Embeds DeepSigns bits: mix() appends key inputs to each batch, loss_term() adds both
/// loss terms from the captured layer. Reports "bit_error_rate" after each epoch.
class WMARK_API DeepSignsEmbedder : public Embedder {
 public:
  /// Draws the key inputs from `train`, A and the bits, and captures the layer of `model`
  /// (released on destruction). `key_base` holds the fields the embedder cannot know
  /// (dataset, shape, normalisation, arch). Throws wmark::Error for a layer the model
  /// does not tap, a target class out of range or without samples, or bad options.
  DeepSignsEmbedder(NetworkPtr model, const Dataset& train, DeepSignsOptions options, WatermarkKey key_base);
  ~DeepSignsEmbedder() override;

  /// "deepsigns".
  std::string method() const override { return "deepsigns"; }
  /// The base key plus layer, target classes, A ("projection" [D,N]), the bits and the
  /// key inputs ("images", "labels").
  WatermarkKey key() const override;
  /// Appends key_batch key inputs with their true labels.
  Batch mix(const at::Tensor& images, const at::Tensor& labels) override;
  /// compactness * loss1 + strength * BCE from the layer's activations of `batch`.
  /// Requires the model this embedder was built for, forwarded on `batch`.
  at::Tensor loss_term(const Batch& batch, const at::Tensor& logits, Network& model) override;
  /// Adds "bit_error_rate".
  void on_epoch_end(EpochStats& stats, Network& model) override;

 private:
  NetworkPtr model_;
  DeepSignsOptions options_;
  WatermarkKey key_base_;
  std::string layer_;
  std::vector<std::int64_t> targets_;
  nlohmann::json sources_;  // {dataset, size} the key inputs were drawn from
  at::Tensor key_images_;  // uint8 [K,C,H,W]
  at::Tensor key_labels_;  // int64 [K]
  at::Tensor projection_;  // A, float [D,N]
  at::Tensor bits_;        // b, float {0,1} [N]
  at::Tensor centres_;     // running class means of the targets, [targets, D]
  std::vector<bool> seen_;
  std::optional<CyclicSampler> sampler_;
  std::int64_t offset_ = 0;    // where mix() put the key inputs in the batch
  std::int64_t appended_ = 0;  // and how many
};

/// A DeepSignsEmbedder for `model` trained on `train`: the key records the dataset, its
/// shape, class count and normalisation, and `arch`.
WMARK_API std::shared_ptr<DeepSignsEmbedder> make_deepsigns_embedder(NetworkPtr model, const Dataset& train,
                                                                    const DeepSignsOptions& options,
                                                                    const std::string& arch = "custom");

/// The bits `model` carries for a DeepSigns `key`: uint8 {0,1} [N], from the mean
/// activation of the key's layer over its key inputs (eval mode, no gradients, on the
/// device of the model's parameters). Throws wmark::Error if the key is not a DeepSigns
/// key, the model does not tap the layer, or the layer's width differs from the key's.
WMARK_API at::Tensor extract_deepsigns_bits(Network& model, const WatermarkKey& key);

/// The secret projection A [features, bits] of a DeepSigns key: the secret's
/// "deepsigns-projection" stream, scaled by 1/sqrt(features), float32.
WMARK_API at::Tensor deepsigns_projection(const KeySecret& secret, std::int64_t features, std::int64_t bits);

/// The key inputs of a DeepSigns key: indexes into `sources` of `count` samples of the
/// `targets` classes, drawn from the secret's "deepsigns-inputs" stream. Requires at
/// least `count` such samples; throws wmark::Error otherwise.
WMARK_API at::Tensor draw_deepsigns_inputs(const Dataset& sources, const std::vector<std::int64_t>& targets,
                                           std::int64_t count, const KeySecret& secret);

}  // namespace wmark
