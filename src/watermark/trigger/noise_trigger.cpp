#include "wmark/watermark/trigger/noise_trigger.h"

#include <torch/torch.h>

#include "wmark/util/error.h"

namespace wmark {

NoiseTrigger::NoiseTrigger(NoiseTriggerOptions options) : options_(options) {
  WMARK_CHECK(options_.sigma() > 0 && options_.sigma() <= 4, "noise sigma must be in (0, 4], got ",
              options_.sigma());
}

nlohmann::json NoiseTrigger::options() const { return {{"sigma", options_.sigma()}}; }

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
