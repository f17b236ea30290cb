#include "wmark/watermark/trigger/natural_trigger.h"

#include <torch/torch.h>

namespace wmark {

const OptionBinding<NaturalTriggerOptions>& NaturalTrigger::declared_options() {
  static const auto binding = OptionBinding<NaturalTriggerOptions>("the natural trigger")
      .describe("unaltered training images of other classes with keyed labels (margin-based watermarking)");
  return binding;
}

NaturalTrigger::NaturalTrigger(NaturalTriggerOptions) {}

nlohmann::json NaturalTrigger::options() const { return nlohmann::json::object(); }

TriggerSet NaturalTrigger::generate(const Dataset& train, const TriggerSpec& spec) const {
  const auto& sources = trigger_sources(train, spec);
  const auto index = pick_sources(sources, spec.size, spec, "natural-sources");
  TriggerSet set;
  set.images = sources.images.index_select(0, index).contiguous();
  set.source_labels = sources.labels.index_select(0, index);
  set.labels = assign_labels(set.source_labels, spec, train.num_classes);
  return set;
}

}  // namespace wmark
