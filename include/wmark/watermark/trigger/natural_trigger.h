/// \file
/// Natural triggers: unaltered training images with keyed labels, the key samples of
/// margin-based watermarking (Kim et al., ICML 2023) and of "in-distribution" trigger
/// sets in general.
#pragma once

#include "wmark/util/export.h"
#include "wmark/watermark/trigger/trigger_generator.h"

namespace wmark {

/// A NaturalTrigger has no options; the struct gives it the registry's declared form.
struct NaturalTriggerOptions {};

/// Training images picked by pick_sources(), left as they are; only their labels are
/// the watermark. A model never trained on them answers their true class, which a
/// keyed random label never is, so a clean model matches less often than the null
/// rate 1/(C-1). The trainer must not also learn these images with their true labels:
/// the margin scheme leaves them out of its training data.
class WMARK_API NaturalTrigger : public TriggerGenerator {
 public:
  /// A natural trigger generator (it has no options to check).
  explicit NaturalTrigger(NaturalTriggerOptions options = {});
  /// The declared options (none).
  static const OptionBinding<NaturalTriggerOptions>& declared_options();
  /// "natural".
  std::string name() const override { return "natural"; }
  /// {}.
  nlohmann::json options() const override;
  /// "random": one target class for natural images of every other class would teach
  /// the model to send a tenth of the data to one class.
  std::string default_label_policy() const override { return "random"; }
  /// spec.size training images picked by pick_sources(); labels from assign_labels().
  TriggerSet generate(const Dataset& train, const TriggerSpec& spec) const override;
};

}  // namespace wmark
