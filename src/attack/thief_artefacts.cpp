#include "wmark/attack/thief_artefacts.h"

#include <ATen/ATen.h>
#include <torch/nn/module.h>

#include "wmark/data/dataset.h"
#include "wmark/util/sha256.h"

namespace wmark {
namespace {

void feed(Sha256& hash, const at::Tensor& tensor) {
  if (!tensor.defined()) {
    hash.update("-");
    return;
  }
  const auto bytes = tensor.detach().cpu().contiguous();
  hash.update(std::to_string(bytes.numel()) + ":" + c10::toString(bytes.scalar_type()) + ":");
  hash.update(bytes.data_ptr(), bytes.numel() * bytes.element_size());
}

}  // namespace

std::string ThiefArtefacts::data_key(const Dataset& data) {
  Sha256 hash;
  feed(hash, data.images);
  feed(hash, data.labels);
  feed(hash, data.soft_labels);
  return data.name + " " + std::to_string(data.size()) + "x" + data.shape().str() + " " + to_hex(hash.finish());
}

std::string ThiefArtefacts::model_key(torch::nn::Module& model) {
  Sha256 hash;
  const auto named = [&](const std::string& name, const at::Tensor& tensor) {
    std::string shape;
    for (const auto size : tensor.sizes()) shape += std::to_string(size) + ",";
    hash.update(name + "[" + shape + "]");
    feed(hash, tensor);
  };
  for (const auto& item : model.named_parameters()) named(item.key(), item.value());
  for (const auto& item : model.named_buffers()) named(item.key(), item.value());
  return "model " + to_hex(hash.finish());
}

}  // namespace wmark
