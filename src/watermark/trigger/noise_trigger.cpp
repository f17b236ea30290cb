#include "wmark/watermark/trigger/noise_trigger.h"

#include <torch/torch.h>

#include "wmark/util/error.h"

namespace wmark {

const OptionBinding<NoiseTriggerOptions>& NoiseTrigger::declared_options() {
  static const auto binding = OptionBinding<NoiseTriggerOptions>("the noise trigger")
      .describe("Gaussian noise on training images of other classes (Zhang et al.)")
      .number(WMARK_OPTION_FIELD(sigma), "noise standard deviation on the [0,1] pixel scale", 1e-9, 4.0);
  return binding;
}

NoiseTrigger::NoiseTrigger(NoiseTriggerOptions options) : options_(declared_options().checked(options)) {}

nlohmann::json NoiseTrigger::options() const { return declared_options().write(options_); }

TriggerSet NoiseTrigger::generate(const Dataset& train, const TriggerSpec& spec) const {
  const auto& sources = trigger_sources(train, spec);
  auto index = pick_sources(sources, spec.size, spec, "noise-sources");
  TriggerSet set;
  set.source_labels = sources.labels.index_select(0, index);
  auto images = sources.images.index_select(0, index).to(torch::kFloat);
  auto noise = spec.secret.stream("noise").normal(images.sizes()) * (255.0 * options_.sigma());
  set.images = (images + noise).round().clamp(0, 255).to(torch::kUInt8).contiguous();
  set.labels = assign_labels(set.source_labels, spec, train.num_classes);
  return set;
}

}  // namespace wmark
