#include "function_preserving.h"

#include <torch/torch.h>

namespace wmark {

double max_logit_difference(Network& a, Network& b, const Dataset& data) {
  if (data.size() == 0) return 0.0;
  torch::NoGradGuard no_grad;
  a.eval();
  b.eval();
  const auto params = a.parameters();
  const auto device = params.empty() ? torch::Device(torch::kCPU) : params.front().device();
  const auto x = data.normalization.apply(data.images.narrow(0, 0, std::min<std::int64_t>(256, data.size()))).to(device);
  return (a.forward(x) - b.forward(x)).abs().max().item<double>();
}

AttackResult function_preserving_result(Network& victim, NetworkPtr model, const AttackContext& context,
                                        nlohmann::json layers) {
  AttackResult result;
  result.details = {{"layers", std::move(layers)},
                    {"max_logit_difference", max_logit_difference(victim, *model, context.data)}};
  result.model = std::move(model);
  result.arch = context.arch;
  return result;
}

}  // namespace wmark
