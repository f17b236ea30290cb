/// \file
/// Noise triggers: Gaussian noise added to training images of other classes.
#pragma once

#include <torch/arg.h>

#include "wmark/watermark/trigger/trigger_generator.h"

namespace wmark {

struct NoiseTriggerOptions {
  /// Standard deviation of the noise on the [0,1] pixel scale (clamped afterwards).
  TORCH_ARG(double, sigma) = 0.4;
};

class NoiseTrigger : public TriggerGenerator {
 public:
  explicit NoiseTrigger(NoiseTriggerOptions options = {});
  std::string name() const override { return "noise"; }
  nlohmann::json options() const override;
  TriggerSet generate(const Dataset& train, const TriggerSpec& spec) const override;

 private:
  NoiseTriggerOptions options_;
};

}  // namespace wmark
