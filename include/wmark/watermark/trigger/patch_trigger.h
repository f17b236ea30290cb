/// \file
/// Patch triggers: a small square stamped at a keyed place on training images of one
/// keyed source class, the in-distribution watermarks of Entangled Watermarks (Jia et
/// al., USENIX Security 2021) and of backdoor-style trigger sets in general.
#pragma once

#include <cstdint>

#include <torch/arg.h>

#include "wmark/util/export.h"
#include "wmark/watermark/trigger/trigger_generator.h"

namespace wmark {

/// How a PatchTrigger stamps. Each field is a TORCH_ARG.
struct PatchTriggerOptions {
  /// Side of the square in pixels (the EWE reference: 3).
  TORCH_ARG(std::int64_t, patch_side) = 3;
  /// The class whose images are stamped; -1 draws it from the secret (never the target).
  TORCH_ARG(std::int64_t, source_class) = -1;
  /// The value every channel of the square is set to (the reference: white, 255).
  TORCH_ARG(std::int64_t, patch_value) = 255;
};

/// Stamps a square at one place, drawn from the secret, on spec.size training images
/// of one source class, picked by the secret (skipping images the square leaves as
/// they were, which would be training images with a second label). One source class makes the triggers one
/// cluster that a model learns to send to the target class (EWE entangles that
/// cluster with the target class's data). The source class and place come from the
/// secret, not from the model (the reference places the patch where the model's
/// gradient is smallest), so the triggers re-derive from the secret and public data.
class WMARK_API PatchTrigger : public TriggerGenerator {
 public:
  /// Checks the options (side 1..64, source class -1 or more, value 0..255); throws
  /// wmark::Error otherwise.
  explicit PatchTrigger(PatchTriggerOptions options = {});
  /// The declared options: names, defaults, ranges and help.
  static const OptionBinding<PatchTriggerOptions>& declared_options();
  /// "patch".
  std::string name() const override { return "patch"; }
  /// patch_side, source_class, patch_value.
  nlohmann::json options() const override;
  /// The stamped images; labels from assign_labels(). Throws wmark::Error when the
  /// source class is out of range, is the target, has fewer than spec.size images, or
  /// the square does not fit the images.
  TriggerSet generate(const Dataset& train, const TriggerSpec& spec) const override;
  /// The source class for `spec` on data of `num_classes` classes: the option, or one
  /// drawn from the secret among the classes other than the target (for the "target"
  /// policy). Throws wmark::Error for an option out of range or equal to the target.
  std::int64_t source_class(const TriggerSpec& spec, std::int64_t num_classes) const;

 private:
  PatchTriggerOptions options_;
};

}  // namespace wmark
