/// \file
/// Unrelated triggers: images from another domain, converted to the model's shape.
#pragma once

#include <string>

#include <torch/arg.h>

#include "wmark/watermark/trigger/trigger_generator.h"

namespace wmark {

struct UnrelatedTriggerOptions {
  /// Source dataset name; empty = fashion for mnist, mnist for fashion and cifar10.
  TORCH_ARG(std::string, source) = "";
  /// A folder of PNG/PGM/PPM images to use instead of a dataset.
  TORCH_ARG(std::string, folder) = "";
};

class UnrelatedTrigger : public TriggerGenerator {
 public:
  explicit UnrelatedTrigger(UnrelatedTriggerOptions options = {});
  std::string name() const override { return "unrelated"; }
  /// "random": a clean model sends most foreign images to one or two classes, so one
  /// secret target class could coincide with them (measured: 42% matches on CIFAR-10).
  std::string default_label_policy() const override { return "random"; }
  nlohmann::json options() const override;
  TriggerSet generate(const Dataset& train, const TriggerSpec& spec) const override;
  /// The source dataset used for a model trained on `dataset`.
  std::string source_for(const std::string& dataset) const;

 private:
  UnrelatedTriggerOptions options_;
};

}  // namespace wmark
