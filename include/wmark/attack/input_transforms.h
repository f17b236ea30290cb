/// \file
/// The built-in input transforms (input_transform.h), after the
/// Watermark-Robustness-Toolbox's input-preprocessing attacks; defaults are its CIFAR-10
/// configs.
#pragma once

#include <cstdint>
#include <string>

#include <torch/arg.h>

#include "wmark/attack/input_transform.h"
#include "wmark/util/option_binding.h"

namespace wmark {

/// Options of JpegCompression.
struct JpegCompressionOptions {
  /// IJG quality, 1 (worst) to 100.
  TORCH_ARG(std::int64_t, quality) = 95;
};

/// "jpeg-compression": JPEG's lossy steps as a baseline encoder and decoder perform
/// them: colour images to YCbCr with 4:2:0 chroma subsampling, 8x8 orthonormal DCT,
/// quantization by the standard (Annex K) tables scaled to `quality` the IJG way,
/// inverse DCT, back to RGB, rounded to 8-bit pixels. The entropy coding JPEG adds is
/// lossless and left out.
class WMARK_API JpegCompression : public InputTransform {
 public:
  /// Checks the options against their declaration.
  explicit JpegCompression(JpegCompressionOptions options = {});
  /// The declared options.
  static const OptionBinding<JpegCompressionOptions>& declared_options();
  std::string name() const override { return "jpeg-compression"; }  ///< "jpeg-compression"
  nlohmann::json options() const override;                          ///< the options as JSON
  at::Tensor apply(const at::Tensor& pixels) const override;          ///< compressed and decoded

 private:
  JpegCompressionOptions options_;
};

/// Options of InputQuantization.
struct InputQuantizationOptions {
  /// Equal bins over [0, 1]; each pixel becomes its bin's midpoint.
  TORCH_ARG(std::int64_t, divisions) = 16;
};

/// "input-quantization": each pixel to the midpoint of its bin among `divisions` equal bins.
class WMARK_API InputQuantization : public InputTransform {
 public:
  /// Checks the options against their declaration.
  explicit InputQuantization(InputQuantizationOptions options = {});
  /// The declared options.
  static const OptionBinding<InputQuantizationOptions>& declared_options();
  std::string name() const override { return "input-quantization"; }  ///< "input-quantization"
  nlohmann::json options() const override;                            ///< the options as JSON
  at::Tensor apply(const at::Tensor& pixels) const override;            ///< quantized pixels

 private:
  InputQuantizationOptions options_;
};

/// Options of FeatureSqueezing.
struct FeatureSqueezingOptions {
  /// Bits per pixel left: values round to multiples of 1 / (2^bit_depth - 1).
  TORCH_ARG(std::int64_t, bit_depth) = 4;
};

/// "feature-squeezing": bit-depth reduction (Xu et al., NDSS 2018), as the toolbox's.
class WMARK_API FeatureSqueezing : public InputTransform {
 public:
  /// Checks the options against their declaration.
  explicit FeatureSqueezing(FeatureSqueezingOptions options = {});
  /// The declared options.
  static const OptionBinding<FeatureSqueezingOptions>& declared_options();
  std::string name() const override { return "feature-squeezing"; }  ///< "feature-squeezing"
  nlohmann::json options() const override;                           ///< the options as JSON
  at::Tensor apply(const at::Tensor& pixels) const override;           ///< squeezed pixels

 private:
  FeatureSqueezingOptions options_;
};

/// Options of GaussianSmoothing.
struct GaussianSmoothingOptions {
  /// Standard deviation of the Gaussian kernel, in pixels (the toolbox's `std`).
  TORCH_ARG(double, sigma) = 0.5;
};

/// "input-gaussian-smoothing": convolution with a Gaussian of `sigma` pixels, truncated
/// at 3 sigma (the kernel is the odd size >= 6 sigma + 1), per channel, edges replicated.
class WMARK_API GaussianSmoothing : public InputTransform {
 public:
  /// Checks the options against their declaration.
  explicit GaussianSmoothing(GaussianSmoothingOptions options = {});
  /// The declared options.
  static const OptionBinding<GaussianSmoothingOptions>& declared_options();
  std::string name() const override { return "input-gaussian-smoothing"; }  ///< "input-gaussian-smoothing"
  nlohmann::json options() const override;                                  ///< the options as JSON
  at::Tensor apply(const at::Tensor& pixels) const override;                  ///< smoothed pixels

 private:
  GaussianSmoothingOptions options_;
};

/// Options of MedianSmoothing.
struct MedianSmoothingOptions {
  /// Odd side of the square window.
  TORCH_ARG(std::int64_t, kernel) = 3;
};

/// "input-median-smoothing": each pixel to the median of its kernel x kernel window,
/// per channel, edges replicated.
class WMARK_API MedianSmoothing : public InputTransform {
 public:
  /// Checks the options against their declaration (an even kernel is refused).
  explicit MedianSmoothing(MedianSmoothingOptions options = {});
  /// The declared options.
  static const OptionBinding<MedianSmoothingOptions>& declared_options();
  std::string name() const override { return "input-median-smoothing"; }  ///< "input-median-smoothing"
  nlohmann::json options() const override;                                ///< the options as JSON
  at::Tensor apply(const at::Tensor& pixels) const override;                ///< smoothed pixels

 private:
  MedianSmoothingOptions options_;
};

/// Options of InputNoising.
struct InputNoisingOptions {
  /// Mean of the added Gaussian noise.
  TORCH_ARG(double, mean) = 0.0;
  /// Standard deviation of the added Gaussian noise (pixels in [0, 1]).
  TORCH_ARG(double, std) = 0.01;
  /// Seed of the noise (not `seed`: that is the attack command's own flag). An image's
  /// noise is drawn from it and the image's pixels, so a repeated query gets the same
  /// answer, as from a deployment that caches, and a run is repeatable.
  TORCH_ARG(std::int64_t, noise_seed) = 1;
};

/// "input-noising": adds Gaussian noise, clipped to [0, 1].
class WMARK_API InputNoising : public InputTransform {
 public:
  /// Checks the options against their declaration.
  explicit InputNoising(InputNoisingOptions options = {});
  /// The declared options.
  static const OptionBinding<InputNoisingOptions>& declared_options();
  std::string name() const override { return "input-noising"; }  ///< "input-noising"
  nlohmann::json options() const override;                       ///< the options as JSON
  at::Tensor apply(const at::Tensor& pixels) const override;       ///< noised pixels

 private:
  InputNoisingOptions options_;
};

/// Options of InputFlipping (none).
struct InputFlippingOptions {};

/// "input-flipping": mirrors every image left to right.
class WMARK_API InputFlipping : public InputTransform {
 public:
  /// Nothing to check.
  explicit InputFlipping(InputFlippingOptions options = {});
  /// The declared options (none).
  static const OptionBinding<InputFlippingOptions>& declared_options();
  std::string name() const override { return "input-flipping"; }  ///< "input-flipping"
  nlohmann::json options() const override;                        ///< {}
  at::Tensor apply(const at::Tensor& pixels) const override;        ///< mirrored pixels
};

}  // namespace wmark
