// Internal: one FGSM step (Goodfellow et al. 2015), shared by the schemes that craft key
// images at the decision frontier (frontier-stitching, blackmarks).
#pragma once

#include <torch/torch.h>

#include <algorithm>
#include <vector>

#include "wmark/data/dataset.h"
#include "wmark/models/network.h"

namespace wmark {

// `images` moved by `step` times the sign of the gradient of the cross-entropy towards
// `labels`, on the [0,1] pixel scale, rounded back to uint8 pixels: a positive step moves
// away from the labels (untargeted), a negative one towards them (targeted).
inline at::Tensor fgsm_step(Network& model, const at::Tensor& images, const at::Tensor& labels,
                            const Normalization& normalization, double step, c10::Device device) {
  model.eval();
  std::vector<at::Tensor> parts;
  for (std::int64_t start = 0; start < images.size(0); start += 250) {
    const auto count = std::min<std::int64_t>(250, images.size(0) - start);
    auto x = (images.narrow(0, start, count).to(device).to(torch::kFloat) / 255.0).requires_grad_(true);
    const auto loss = torch::cross_entropy_loss(model.forward(normalization.apply(x * 255.0)),
                                                labels.narrow(0, start, count).to(device));
    const auto gradient = torch::autograd::grad({loss}, {x})[0];  // leaves the parameters' .grad alone
    parts.push_back((x.detach() + step * gradient.sign()).clamp(0, 1).mul(255).round().to(torch::kUInt8).cpu());
  }
  return torch::cat(parts);
}

}  // namespace wmark
