/// \file
/// Abstract triggers (Adi et al., USENIX Security 2018): procedurally drawn abstract
/// images, unrelated to any dataset, each with a keyed random label.
#pragma once

#include <cstdint>

#include <torch/arg.h>

#include "wmark/util/export.h"
#include "wmark/watermark/trigger/trigger_generator.h"

namespace wmark {

/// How an AbstractTrigger draws its images. Each field is a TORCH_ARG: read it with
/// `options.shapes()`, set it with the chained setter `options.shapes(12)`.
struct AbstractTriggerOptions {
  /// Shapes (ellipses, rectangles, stripes, triangles) painted over each image's
  /// gradient background; in [1, 64].
  TORCH_ARG(std::int64_t, shapes) = 10;
};

/// Draws abstract images from the key's secret: a two-colour gradient background under
/// translucent ellipses, rectangles, stripe bands and triangles of random colours,
/// sizes and orientations. The paper's 100 abstract images are not public; these play
/// their part: foreign to every dataset, so a model never trained on them answers them
/// independently of their keyed labels. Rasterised with integer arithmetic only (no
/// libm), so the same secret gives the same bytes on every machine and the key
/// re-derives from its secret without any dataset.
class WMARK_API AbstractTrigger : public TriggerGenerator {
 public:
  /// Requires shapes in [1, 64]; throws wmark::Error otherwise.
  explicit AbstractTrigger(AbstractTriggerOptions options = {});
  /// The declared options: names, defaults, ranges and help (JSON, flags, keys).
  static const OptionBinding<AbstractTriggerOptions>& declared_options();
  /// "abstract".
  std::string name() const override { return "abstract"; }
  /// {"shapes": ...}.
  nlohmann::json options() const override;
  /// "random": each image gets a keyed class uniform over all C classes (the paper's
  /// random labels); a model never trained on them matches each at 1/C.
  std::string default_label_policy() const override { return "random"; }
  /// spec.size images in the training split's shape; source labels are -1 (foreign).
  TriggerSet generate(const Dataset& train, const TriggerSpec& spec) const override;

 private:
  AbstractTriggerOptions options_;
};

}  // namespace wmark
