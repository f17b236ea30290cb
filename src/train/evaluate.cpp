#include "wmark/train/evaluate.h"

#include <torch/torch.h>

#include "wmark/models/network.h"
#include "wmark/util/error.h"

namespace wmark {

namespace {

// `answer` (logits [B, classes] -> [B, ...]) of uint8 images, in no-grad eval-mode batches.
template <class Answer>
at::Tensor predict(Network& model, const at::Tensor& images, const Normalization& normalization, c10::Device device,
                   std::int64_t batch_size, Answer answer) {
  WMARK_CHECK(batch_size > 0, "evaluation batch size must be positive");
  WMARK_CHECK(images.dim() == 4, "expected images [N,C,H,W], got ", images.dim(), " dims");
  torch::NoGradGuard no_grad;
  model.eval();
  const auto n = images.size(0);
  std::vector<at::Tensor> parts;
  for (std::int64_t start = 0; start < n; start += batch_size) {
    const auto len = std::min(batch_size, n - start);
    // NHWC input suits both layouts of weights and is the fast path for NHWC ones.
    auto x = normalization.apply(images.narrow(0, start, len)).to(device).contiguous(
        torch::MemoryFormat::ChannelsLast);
    parts.push_back(answer(model.forward(x)).cpu());
  }
  return parts.empty() ? torch::empty({0}, torch::kLong) : torch::cat(parts);
}

}  // namespace

at::Tensor predict_labels(Network& model, const at::Tensor& images,
                          const Normalization& normalization, c10::Device device,
                          std::int64_t batch_size) {
  return predict(model, images, normalization, device, batch_size,
                 [](const at::Tensor& logits) { return logits.argmax(1); });
}

at::Tensor predict_logits(Network& model, const at::Tensor& images, const Normalization& normalization,
                          c10::Device device, std::int64_t batch_size) {
  return predict(model, images, normalization, device, batch_size,
                 [](const at::Tensor& logits) { return logits.to(torch::kFloat); });
}

at::Tensor predict_probabilities(Network& model, const at::Tensor& images, const Normalization& normalization,
                                 c10::Device device, std::int64_t batch_size) {
  return predict(model, images, normalization, device, batch_size,
                 [](const at::Tensor& logits) { return torch::softmax(logits.to(torch::kFloat), 1); });
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
