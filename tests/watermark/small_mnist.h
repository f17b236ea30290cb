// The small real setting the scheme tests of this folder share: 2,000 MNIST training
// images, 500 test images, and two clean mnist_cnn models of different initialisation
// and batch order, trained once per test process.
#pragma once

#include <torch/torch.h>

#include "../support/test_support.h"
#include "wmark/data/subset.h"
#include "wmark/models/registry.h"
#include "wmark/train/trainer.h"
#include "wmark/watermark/scheme.h"

namespace wmark::test {

struct SmallMnist {
  DatasetSplits splits;
  TrainerOptions training = TrainerOptions().epochs(2).optimizer("adam").lr(0.002).batch_size(64).seed(3);
  NetworkPtr clean_a;  // initialisation seed 1
  NetworkPtr clean_b;  // initialisation seed 2, another batch order

  // A fresh, untrained mnist_cnn initialised from `seed`.
  static NetworkPtr fresh(std::uint64_t seed) {
    torch::manual_seed(seed);
    return model_registry().create("mnist_cnn", {{1, 28, 28}, 10});
  }
};

inline const SmallMnist& small_mnist() {
  static const SmallMnist data = [] {
    SmallMnist d;
    d.splits.train = balanced_subset(mnist().train, 2000, 61);
    d.splits.test = balanced_subset(mnist().test, 500, 62);
    d.clean_a = SmallMnist::fresh(1);
    Trainer(d.clean_a, d.training).fit(d.splits.train);
    d.clean_b = SmallMnist::fresh(2);
    Trainer(d.clean_b, TrainerOptions(d.training).seed(4)).fit(d.splits.train);
    return d;
  }();
  return data;
}

// A request to mark `model` on the shared data, with a secret for `purpose`.
inline EmbedRequest small_mnist_request(NetworkPtr model, const std::string& purpose, bool pretrained = false) {
  const auto& data = small_mnist();
  EmbedRequest request;
  request.model = std::move(model);
  request.pretrained = pretrained;
  request.splits = data.splits;
  request.training = data.training;
  request.info.arch = "mnist_cnn";
  request.secret = experiment_secret(7, purpose);
  return request;
}

}  // namespace wmark::test
