/// \file
/// Content triggers: a meaningful pattern (by default the text "TEST") stamped on
/// training images of other classes.
#pragma once

#include <string>

#include <torch/arg.h>

#include "wmark/util/export.h"
#include "wmark/watermark/trigger/trigger_generator.h"

namespace wmark {

/// How a ContentTrigger draws its stamp. Each field is a TORCH_ARG: read it with
/// `options.text()`, set it with the chained setter `options.text("OWNED")`.
struct ContentTriggerOptions {
  /// Text drawn with the built-in 5x7 font (A-Z, 0-9, space, - . ! #); used when no pattern.
  TORCH_ARG(std::string, text) = "TEST";
  /// Optional pattern image (PNG/PGM/PPM) instead of text; its alpha channel is the mask.
  TORCH_ARG(std::string, pattern) = "";
  /// Optional grey mask image for the pattern (0 = keep the image, 255 = pattern).
  TORCH_ARG(std::string, mask) = "";
  /// Left edge of the stamp; -1 = centred horizontally.
  TORCH_ARG(std::int64_t, x) = -1;
  /// Top edge of the stamp; -1 = its bottom row one pixel above the image's bottom.
  TORCH_ARG(std::int64_t, y) = -1;
  /// Each pattern pixel becomes scale x scale image pixels; 1..64.
  TORCH_ARG(std::int64_t, scale) = 1;
  /// Stamp opacity in (0,1] (1 = the pattern replaces the pixels: white text).
  TORCH_ARG(double, intensity) = 1.0;
};

/// Stamps a text or pattern on training images of other classes: the "content"
/// watermark of Zhang et al.
class WMARK_API ContentTrigger : public TriggerGenerator {
 public:
  /// Checks the options: scale 1..64, intensity in (0,1], a mask only with a pattern;
  /// throws wmark::Error otherwise.
  explicit ContentTrigger(ContentTriggerOptions options = {});
  /// The declared options: names, defaults, ranges and help (JSON, flags, keys).
  static const OptionBinding<ContentTriggerOptions>& declared_options();
  /// "content".
  std::string name() const override { return "content"; }
  /// All options: text, pattern, mask, x, y, scale, intensity.
  nlohmann::json options() const override;
  /// Stamps spec.size training images picked by pick_sources(); their labels follow
  /// assign_labels().
  TriggerSet generate(const Dataset& train, const TriggerSpec& spec) const override;
  /// Stamps the pattern on uint8 images [N,C,H,W] (a copy). Throws wmark::Error for a
  /// non-4-D batch, or a stamp that does not fit in the images.
  at::Tensor stamp(const at::Tensor& images) const;
  /// The stamp's mask [H,W] in [0,1] and its pixel values [C,H,W] for an image shape.
  /// Throws wmark::Error for a glyph the font lacks, an unreadable pattern or mask, or a
  /// stamp that does not fit.
  std::pair<at::Tensor, at::Tensor> render(const ImageShape& shape) const;

 private:
  ContentTriggerOptions options_;
};

}  // namespace wmark
