#include <catch2/catch.hpp>

#include <torch/torch.h>

#include "../support/test_support.h"
#include "wmark/data/subset.h"
#include "wmark/models/registry.h"
#include "wmark/train/evaluate.h"
#include "wmark/train/recipe.h"
#include "wmark/train/trainer.h"
#include "wmark/util/error.h"

using namespace wmark;
using Catch::Matchers::Contains;

namespace {

bool same_parameters(Network& a, Network& b) {
  auto pa = a.parameters(), pb = b.parameters();
  for (size_t i = 0; i < pa.size(); ++i) {
    if (!torch::allclose(pa[i], pb[i], 1e-6, 1e-7)) return false;
  }
  return true;
}

// Appends 8 copies of one fixed pattern labelled 3 to every batch, counts calls,
// and stops after `stop_after` epochs.
struct PatternHook : TrainerHook {
  torch::Tensor pattern = torch::zeros({1, 1, 28, 28}, torch::kUInt8);
  int begins = 0, extends = 0, losses = 0, ends = 0;
  int stop_after = 100;
  PatternHook() { pattern.narrow(2, 2, 5).narrow(3, 2, 24).fill_(255); }
  void on_epoch_begin(const StepContext&) override { ++begins; }
  void extend_batch(Batch& batch, const StepContext&) override {
    ++extends;
    batch.images = torch::cat({batch.images, pattern.repeat({8, 1, 1, 1})});
    batch.labels = torch::cat({batch.labels, torch::full({8}, 3, torch::kLong)});
  }
  at::Tensor extra_loss(const Batch& batch, const at::Tensor& logits, Network&, const StepContext&) override {
    ++losses;
    CHECK(logits.size(0) == batch.images.size(0));
    return {};
  }
  void on_epoch_end(EpochStats& stats, Network&) override {
    ++ends;
    stats.metrics["pattern_seen"] = extends;
    stats.stop = ends >= stop_after;
  }
};

}  // namespace

TEST_CASE("mnist_cnn on a 5k MNIST subset for one epoch exceeds 90% test accuracy", "[train]") {
  const auto& mnist = test::mnist();
  const auto subset = balanced_subset(mnist.train, 5000, 1);
  auto model = test::fresh_mnist_cnn(1);
  auto recipe = default_recipe("mnist");
  Trainer trainer(model, recipe.options.epochs(1).seed(1));
  const auto result = trainer.fit(subset, &mnist.test);
  REQUIRE(result.history.size() == 1);
  CHECK(result.test_accuracy >= 0.90);
  CHECK(result.test_accuracy == Approx(accuracy(*model, mnist.test, torch::kCPU)));
  CHECK(result.samples_per_second > 0);
}

TEST_CASE("hooks extend batches, see every step and can stop training", "[train]") {
  const auto subset = balanced_subset(test::mnist().train, 640, 2);
  auto hook = std::make_shared<PatternHook>();
  hook->stop_after = 2;
  auto model = test::fresh_mnist_cnn(2);
  Trainer trainer(model, default_recipe("mnist").options.epochs(5));
  trainer.add_hook(hook);
  const auto result = trainer.fit(subset);
  CHECK(result.history.size() == 2);
  CHECK(hook->begins == 2);
  CHECK(hook->ends == 2);
  CHECK(hook->extends == 20);
  CHECK(hook->losses == 20);
  CHECK(result.history.back().metrics.at("pattern_seen") == 20);
  // The appended pattern was learnt.
  auto predicted = predict_labels(*model, hook->pattern, subset.normalization, torch::kCPU);
  CHECK(predicted[0].item<int64_t>() == 3);
}

TEST_CASE("a resumed run ends with the same weights as an uninterrupted one", "[train]") {
  test::TempDir dir;
  const auto subset = balanced_subset(test::mnist().train, 1000, 3);
  CheckpointInfo info{"mnist_cnn", {{1, 28, 28}, 10}, "mnist", subset.normalization, 0, nlohmann::json::object()};
  auto options = default_recipe("mnist").options.seed(4);

  auto straight = test::fresh_mnist_cnn(4);
  Trainer(straight, TrainerOptions(options).epochs(2)).fit(subset);

  auto first = test::fresh_mnist_cnn(4);
  const auto checkpoint = (dir / "ckpt.pt").string();
  Trainer(first, TrainerOptions(options).epochs(1).checkpoint_path(checkpoint), info).fit(subset);
  CHECK_FALSE(same_parameters(*first, *straight));
  CHECK_THROWS_WITH(Trainer(test::fresh_mnist_cnn(4), TrainerOptions(options).checkpoint_path(checkpoint), info).fit(subset),
                    Contains("already exists"));

  auto resumed = test::fresh_mnist_cnn(99);  // different initial weights: the checkpoint must win
  Trainer(resumed, TrainerOptions(options).epochs(2).resume_from(checkpoint).checkpoint_path(checkpoint), info)
      .fit(subset);
  CHECK(same_parameters(*resumed, *straight));
}

TEST_CASE("bad training options are refused before any work", "[train]") {
  const auto subset = balanced_subset(test::mnist().train, 100, 1);
  auto model = test::fresh_mnist_cnn(1);
  CHECK_THROWS_WITH(Trainer(model, TrainerOptions().optimizer("rmsprop")).fit(subset), Contains("unknown optimizer"));
  CHECK_THROWS_WITH(Trainer(model, TrainerOptions().schedule("linear")).fit(subset), Contains("unknown LR schedule"));
  CHECK_THROWS_WITH(Trainer(model, TrainerOptions().epochs(0)).fit(subset), Contains("epochs"));
}
