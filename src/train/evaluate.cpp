#include "wmark/train/evaluate.h"

#include <torch/torch.h>

#include "wmark/models/network.h"
#include "wmark/util/error.h"

namespace wmark {

at::Tensor predict_labels(Network& model, const at::Tensor& images,
                          const Normalization& normalization, c10::Device device,
                          std::int64_t batch_size) {
  WMARK_CHECK(batch_size > 0, "evaluation batch size must be positive");
  WMARK_CHECK(images.dim() == 4, "expected images [N,C,H,W], got ", images.dim(), " dims");
  torch::NoGradGuard no_grad;
  model.eval();
  const auto n = images.size(0);
  auto predictions = torch::empty({n}, torch::kLong);
  for (std::int64_t start = 0; start < n; start += batch_size) {
    const auto len = std::min(batch_size, n - start);
    // NHWC input suits both layouts of weights and is the fast path for NHWC ones.
    auto x = normalization.apply(images.narrow(0, start, len)).to(device).contiguous(
        torch::MemoryFormat::ChannelsLast);
    predictions.narrow(0, start, len).copy_(model.forward(x).argmax(1).cpu());
  }
  return predictions;
}

double accuracy(Network& model, const at::Tensor& images, const at::Tensor& labels,
                const Normalization& normalization, c10::Device device, std::int64_t batch_size) {
  const auto n = images.size(0);
  WMARK_CHECK(labels.size(0) == n, "accuracy: ", n, " images but ", labels.size(0), " labels");
  if (n == 0) return 0.0;
  auto predicted = predict_labels(model, images, normalization, device, batch_size);
  return predicted.eq(labels.cpu()).sum().item<double>() / static_cast<double>(n);
}

double accuracy(Network& model, const Dataset& dataset, c10::Device device,
                std::int64_t batch_size) {
  return accuracy(model, dataset.images, dataset.labels, dataset.normalization, device, batch_size);
}

}  // namespace wmark
