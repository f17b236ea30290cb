/// \file
/// Unrelated triggers: images from another domain, converted to the model's shape.
#pragma once

#include <string>

#include <torch/arg.h>

#include "wmark/util/export.h"
#include "wmark/watermark/trigger/trigger_generator.h"

namespace wmark {

/// Where an UnrelatedTrigger takes its images. Each field is a TORCH_ARG: read it with
/// `options.source()`, set it with the chained setter `options.source("cifar10")`.
struct UnrelatedTriggerOptions {
  /// Source dataset name; empty = fashion for mnist, mnist for fashion and cifar10.
  TORCH_ARG(std::string, source) = "";
  /// A folder of PNG/PGM/PPM images to use instead of a dataset.
  TORCH_ARG(std::string, folder) = "";
};

/// Uses images of another domain (a dataset or a folder), converted to the training
/// split's shape, as triggers.
class WMARK_API UnrelatedTrigger : public TriggerGenerator {
 public:
  /// Canonicalises the source dataset name; throws wmark::Error for an unknown one.
  explicit UnrelatedTrigger(UnrelatedTriggerOptions options = {});
  /// The declared options: names, defaults, ranges and help (JSON, flags, keys).
  static const OptionBinding<UnrelatedTriggerOptions>& declared_options();
  /// "unrelated".
  std::string name() const override { return "unrelated"; }
  /// "random": a clean model sends most foreign images to one or two classes, so one
  /// secret target class could coincide with them (measured: 42% matches on CIFAR-10).
  std::string default_label_policy() const override { return "random"; }
  /// {"source": ..., "folder": ...}.
  nlohmann::json options() const override;
  /// spec.size seeded picks from the folder's images or the source dataset's training
  /// split, with source_labels -1. Throws wmark::Error if there are too few images, the
  /// source is the training dataset itself, or it cannot be loaded.
  TriggerSet generate(const Dataset& train, const TriggerSpec& spec) const override;
  /// The source dataset used for a model trained on `dataset`.
  std::string source_for(const std::string& dataset) const;

 private:
  UnrelatedTriggerOptions options_;
};

}  // namespace wmark
