#include "wmark/watermark/trigger/trigger_generator.h"

#include <torch/torch.h>

#include "wmark/util/error.h"
#include "wmark/watermark/trigger/abstract_trigger.h"
#include "wmark/watermark/trigger/content_trigger.h"
#include "wmark/watermark/trigger/natural_trigger.h"
#include "wmark/watermark/trigger/noise_trigger.h"
#include "wmark/watermark/trigger/patch_trigger.h"
#include "wmark/watermark/trigger/unrelated_trigger.h"

namespace wmark {

TriggerRegistry TriggerRegistry::with_builtins() {
  TriggerRegistry registry;
  registry.add<ContentTrigger>("content", ContentTrigger::declared_options());
  registry.add<NoiseTrigger>("noise", NoiseTrigger::declared_options());
  registry.add<UnrelatedTrigger>("unrelated", UnrelatedTrigger::declared_options());
  registry.add<AbstractTrigger>("abstract", AbstractTrigger::declared_options());
  registry.add<NaturalTrigger>("natural", NaturalTrigger::declared_options());
  registry.add<PatchTrigger>("patch", PatchTrigger::declared_options());
  return registry;
}

TriggerRegistry& trigger_registry() {
  static TriggerRegistry registry = TriggerRegistry::with_builtins();
  return registry;
}

std::int64_t resolve_target_label(const TriggerSpec& spec, std::int64_t num_classes) {
  WMARK_CHECK(num_classes >= 2, "a watermark needs at least 2 classes");
  if (spec.target_label >= 0) {
    WMARK_CHECK(spec.target_label < num_classes, "target label ", spec.target_label,
                " is out of range for ", num_classes, " classes");
    return spec.target_label;
  }
  return spec.secret.stream("target-label").uniform(num_classes);
}

double null_match_rate(const TriggerSet& triggers, const std::string& label_policy, std::int64_t num_classes) {
  const double any = 1.0 / static_cast<double>(num_classes);
  if (label_policy != "random") return any;
  const double other = 1.0 / static_cast<double>(num_classes - 1);
  auto foreign = triggers.source_labels.lt(0).to(torch::kDouble);
  return (foreign * any + (1 - foreign) * other).mean().item<double>();
}

at::Tensor assign_labels(const at::Tensor& source_labels, const TriggerSpec& spec,
                         std::int64_t num_classes) {
  const auto n = source_labels.size(0);
  if (spec.label_policy == "target") {
    return torch::full({n}, resolve_target_label(spec, num_classes), torch::kLong);
  }
  WMARK_CHECK(spec.label_policy == "random", "unknown label policy '", spec.label_policy,
              "'; use target or random");
  auto stream = spec.secret.stream("random-labels");
  // For a known source class: uniform over the other classes; for a foreign image: any class.
  auto other = stream.uniform(n, num_classes - 1);
  other = other + (other >= source_labels).to(torch::kLong);
  auto any = stream.uniform(n, num_classes);
  return torch::where(source_labels >= 0, other, any);
}

const Dataset& trigger_sources(const Dataset& train, const TriggerSpec& spec) {
  if (!spec.sources) return train;
  WMARK_CHECK(spec.sources->shape() == train.shape() && spec.sources->num_classes == train.num_classes,
              "the trigger sources (", spec.sources->name, ", ", spec.sources->shape().str(), ", ",
              spec.sources->num_classes, " classes) do not match the training data (", train.shape().str(), ", ",
              train.num_classes, " classes)");
  return *spec.sources;
}

at::Tensor pick_sources(const Dataset& train, std::int64_t count, const TriggerSpec& spec,
                        const std::string& purpose) {
  WMARK_CHECK(count >= 1, "trigger set size must be at least 1, got ", count);
  auto candidates = torch::arange(train.size(), torch::kLong);
  if (spec.label_policy == "target") {
    const auto target = resolve_target_label(spec, train.num_classes);
    candidates = candidates.masked_select(train.labels.ne(target));
  }
  WMARK_CHECK(candidates.size(0) >= count, "cannot draw ", count, " trigger sources from ",
              candidates.size(0), " eligible training images; use a smaller --trigger-size");
  return candidates.index_select(0, spec.secret.stream(purpose).sample(candidates.size(0), count));
}

at::Tensor control_images(const Dataset& sources, const TriggerSpec& spec, std::int64_t count) {
  WMARK_CHECK(spec.label_policy == "target", "control images belong to target-label trigger sets, not to the '",
              spec.label_policy, "' policy");
  const auto target = resolve_target_label(spec, sources.num_classes);
  const auto eligible = sources.labels.ne(target).sum().item<std::int64_t>();
  if (count <= 0) count = std::min<std::int64_t>(spec.size + 20, eligible);
  WMARK_CHECK(count >= 1 && count <= eligible, "cannot draw ", count, " control images from ", eligible,
              " eligible images of ", sources.name);
  return sources.images.index_select(0, pick_sources(sources, count, spec, "control-sources")).contiguous();
}

}  // namespace wmark
