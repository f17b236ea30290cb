/// \file
/// Content triggers: a meaningful pattern (by default the text "TEST") stamped on
/// training images of other classes.
#pragma once

#include <string>

#include <torch/arg.h>

#include "wmark/watermark/trigger/trigger_generator.h"

namespace wmark {

struct ContentTriggerOptions {
  /// Text drawn with the built-in 5x7 font (A-Z, 0-9, space, - . ! #); used when no pattern.
  TORCH_ARG(std::string, text) = "TEST";
  /// Optional pattern image (PNG/PGM/PPM) instead of text; its alpha channel is the mask.
  TORCH_ARG(std::string, pattern) = "";
  /// Optional grey mask image for the pattern (0 = keep the image, 255 = pattern).
  TORCH_ARG(std::string, mask) = "";
  /// Top-left corner of the stamp; -1 = centred horizontally / one pixel above the bottom.
  TORCH_ARG(std::int64_t, x) = -1;
  TORCH_ARG(std::int64_t, y) = -1;
  /// Each pattern pixel becomes scale x scale image pixels.
  TORCH_ARG(std::int64_t, scale) = 1;
  /// Stamp brightness in [0,1] (1 = white text).
  TORCH_ARG(double, intensity) = 1.0;
};

class ContentTrigger : public TriggerGenerator {
 public:
  explicit ContentTrigger(ContentTriggerOptions options = {});
  std::string name() const override { return "content"; }
  nlohmann::json options() const override;
  TriggerSet generate(const Dataset& train, const TriggerSpec& spec) const override;
  /// Stamps the pattern on uint8 images [N,C,H,W] (a copy).
  at::Tensor stamp(const at::Tensor& images) const;
  /// The stamp's mask [H,W] in [0,1] and its pixel values [C,H,W] for an image shape.
  std::pair<at::Tensor, at::Tensor> render(const ImageShape& shape) const;

 private:
  ContentTriggerOptions options_;
};

}  // namespace wmark
