#include "wmark/attack/thief_artefacts.h"

#include <ATen/ATen.h>

#include "wmark/data/dataset.h"
#include "wmark/util/sha256.h"

namespace wmark {
namespace {

void feed(Sha256& hash, const at::Tensor& tensor) {
  if (!tensor.defined()) {
    hash.update("-");
    return;
  }
  const auto bytes = tensor.cpu().contiguous();
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

}  // namespace wmark
