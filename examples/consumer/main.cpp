// Builds a registered model, checks its output shape and round-trips a SHA-256.
#include <iostream>

#include <torch/torch.h>

#include "wmark/models/registry.h"
#include "wmark/util/sha256.h"

int main() {
  auto model = wmark::model_registry().create("mnist_cnn", {{1, 28, 28}, 10});
  auto logits = model->forward(torch::zeros({2, 1, 28, 28}));
  const bool ok = logits.size(0) == 2 && logits.size(1) == 10 &&
                  wmark::sha256_hex("abc").substr(0, 8) == "ba7816bf";
  std::cout << (ok ? "consumer ok" : "consumer FAILED") << "\n";
  return ok ? 0 : 1;
}
