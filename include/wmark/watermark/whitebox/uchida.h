/// \file
/// White-box weight watermark after Uchida et al., "Embedding Watermarks into Deep
/// Neural Networks" (ICMR 2017): T secret bits hidden in one convolution's weights by a
/// regulariser, read back from the model file without any query.
///
/// With w the layer's kernel averaged over its output filters (M = in * kh * kw values)
/// and X a secret T x M matrix drawn from the key's secret, training adds
/// strength * BCE(sigmoid(X w), b); extraction is b' = step(X w). The key holds X and b.
#pragma once

#include <memory>
#include <string>

#include <torch/arg.h>

#include "wmark/data/dataset.h"
#include "wmark/util/export.h"
#include "wmark/watermark/embedder.h"
#include "wmark/watermark/key_secret.h"

namespace wmark {

/// Options of UchidaEmbedder.
struct UchidaOptions {
  /// The convolution: a module path ("conv2") or its weight's name ("conv2.weight");
  /// "" = the convolution with the most weights.
  TORCH_ARG(std::string, layer) = "";
  /// Number of bits T.
  TORCH_ARG(std::int64_t, bits) = 64;
  /// Text whose UTF-8 bits (most significant first) are embedded, cycled to T bits;
  /// empty = T random bits from the secret.
  TORCH_ARG(std::string, signature) = "";
  /// Weight of the regulariser. The paper's 0.01 needs long training; 0.1 reaches a bit
  /// error rate of 0 within 2 MNIST epochs at no measurable accuracy cost.
  TORCH_ARG(double, strength) = 0.1;
  /// The secret X (and random bits) derive from; a fresh one from the OS CSPRNG unless set.
  TORCH_ARG(KeySecret, secret);
};

/// The name of the 4-D convolution weight that `layer` names in `model` ("conv2" or
/// "conv2.weight"; an adapted module's "module." prefix may be left out, and a
/// TorchScript model's flattened "conv2_weight" is found too; "" = the largest). Throws
/// wmark::Error listing the model's convolution weights when there is no such layer.
WMARK_API std::string resolve_conv_weight(Network& model, const std::string& layer);

/// Embeds Uchida bits through loss_term(); reports "bit_error_rate" after each epoch.
class WMARK_API UchidaEmbedder : public Embedder {
 public:
  /// Draws X and the bits for `layer` of `model`. `key_base` holds the fields the
  /// embedder cannot know (dataset, shape, normalisation, arch). Throws wmark::Error for
  /// a missing layer, bits < 1 or strength <= 0.
  UchidaEmbedder(Network& model, UchidaOptions options, WatermarkKey key_base);

  /// "uchida".
  std::string method() const override { return "uchida"; }
  /// The base key plus the layer, X and the bits.
  WatermarkKey key() const override;
  /// strength * BCE(sigmoid(X w), b) for the model's current weights.
  at::Tensor loss_term(const Batch& batch, const at::Tensor& logits, Network& model) override;
  /// Adds "bit_error_rate".
  void on_epoch_end(EpochStats& stats, Network& model) override;

 private:
  UchidaOptions options_;
  WatermarkKey key_base_;
  std::string weight_name_;
  at::Tensor projection_;  // X, float [T, M]
  at::Tensor bits_;        // b, float {0,1} [T]
};

/// An UchidaEmbedder for `model` trained on `train`: the key records the dataset, its
/// shape, class count and normalisation, and `arch`.
WMARK_API std::shared_ptr<UchidaEmbedder> make_uchida_embedder(Network& model, const Dataset& train,
                                                              const UchidaOptions& options,
                                                              const std::string& arch = "custom");

/// The bits `model` carries for an Uchida `key`: uint8 {0,1} [T]. Throws wmark::Error
/// if the key is not an Uchida key, or the model lacks the layer or its shape differs.
WMARK_API at::Tensor extract_uchida_bits(Network& model, const WatermarkKey& key);

/// The projection of `layer`'s kernel averaged over its output filters, X w, float [T]
/// on the CPU (no gradients): what Uchida and DeepMarks bits are read from. Throws
/// wmark::Error if the model lacks the layer or `projection` is not [T, M] for it.
WMARK_API at::Tensor projected_kernel(Network& model, const std::string& layer, const at::Tensor& projection);

/// `text` as bits (UTF-8 bytes, most significant bit first), cycled to `count` bits.
WMARK_API at::Tensor text_bits(const std::string& text, std::int64_t count);

/// The secret projection X [bits, m] of an Uchida key: the secret's "uchida-projection"
/// stream, float32.
WMARK_API at::Tensor uchida_projection(const KeySecret& secret, std::int64_t bits, std::int64_t m);

/// The bits of a white-box key, float32 {0,1} [count]: those of `signature` when it is
/// not empty (text_bits), else drawn from the secret's stream `purpose`.
WMARK_API at::Tensor watermark_bits(const KeySecret& secret, const std::string& signature, std::int64_t count,
                                    const std::string& purpose);

}  // namespace wmark
