#include "wmark/watermark/trigger/patch_trigger.h"

#include <torch/torch.h>

#include "wmark/util/error.h"

namespace wmark {

const OptionBinding<PatchTriggerOptions>& PatchTrigger::declared_options() {
  static const auto binding = OptionBinding<PatchTriggerOptions>("the patch trigger")
      .describe("a square at a keyed place on training images of one keyed source class (EWE, in-distribution)")
      .integer(WMARK_OPTION_FIELD(patch_side), "side of the square in pixels", 1, 64)
      .integer(WMARK_OPTION_FIELD(source_class), "class whose images are stamped (-1: drawn from the secret)", -1,
               100000)
      .integer(WMARK_OPTION_FIELD(patch_value), "value of the square's pixels in every channel", 0, 255);
  return binding;
}

PatchTrigger::PatchTrigger(PatchTriggerOptions options) : options_(declared_options().checked(options)) {}

nlohmann::json PatchTrigger::options() const { return declared_options().write(options_); }

std::int64_t PatchTrigger::source_class(const TriggerSpec& spec, std::int64_t num_classes) const {
  const auto target = spec.label_policy == "target" ? resolve_target_label(spec, num_classes) : -1;
  if (options_.source_class() >= 0) {
    WMARK_CHECK(options_.source_class() < num_classes, "patch trigger: source class ", options_.source_class(),
                " is out of range for ", num_classes, " classes");
    WMARK_CHECK(options_.source_class() != target, "patch trigger: the source class is the target class ", target);
    return options_.source_class();
  }
  if (target < 0) return spec.secret.stream("patch-source-class").uniform(num_classes);
  const auto other = spec.secret.stream("patch-source-class").uniform(num_classes - 1);
  return other + (other >= target ? 1 : 0);
}

TriggerSet PatchTrigger::generate(const Dataset& train, const TriggerSpec& spec) const {
  const auto& sources = trigger_sources(train, spec);
  const auto shape = sources.shape();
  const auto side = options_.patch_side();
  WMARK_CHECK(side <= shape.height && side <= shape.width, "patch trigger: a ", side, "x", side,
              " square does not fit ", shape.str(), " images");
  WMARK_CHECK(spec.size >= 1, "patch trigger: the trigger count must be at least 1");
  const auto source = source_class(spec, train.num_classes);
  const auto candidates = sources.labels.eq(source).nonzero().flatten();
  WMARK_CHECK(candidates.size(0) >= spec.size, "patch trigger: class ", source, " has ", candidates.size(0),
              " images, fewer than the ", spec.size, " triggers asked for; use a smaller --trigger-size");
  auto place = spec.secret.stream("patch-place");
  const auto top = place.uniform(shape.height - side + 1);
  const auto left = place.uniform(shape.width - side + 1);

  // The class's images in keyed order, stamped; an image the square leaves unchanged
  // (already that value there) would be a training image with a second label: skipped.
  const auto ordered = candidates.index_select(
      0, spec.secret.stream("patch-sources").sample(candidates.size(0), candidates.size(0)));
  const auto originals = sources.images.index_select(0, ordered);
  auto stamped = originals.clone();
  stamped.narrow(2, top, side).narrow(3, left, side).fill_(options_.patch_value());
  const auto changed = stamped.ne(originals).flatten(1).any(1).nonzero().flatten();
  WMARK_CHECK(changed.size(0) >= spec.size, "patch trigger: the square changes only ", changed.size(0),
              " images of class ", source, ", fewer than the ", spec.size, " triggers asked for");

  TriggerSet set;
  set.images = stamped.index_select(0, changed.narrow(0, 0, spec.size)).contiguous();
  set.source_labels = torch::full({spec.size}, source, torch::kLong);
  set.labels = assign_labels(set.source_labels, spec, train.num_classes);
  return set;
}

}  // namespace wmark
