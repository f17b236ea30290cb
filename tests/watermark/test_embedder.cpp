#include <catch2/catch.hpp>

#include <torch/torch.h>

#include "../support/test_support.h"
#include "wmark/attack/prune.h"
#include "wmark/data/subset.h"
#include "wmark/models/module_adapter.h"
#include "wmark/train/evaluate.h"
#include "wmark/train/trainer.h"
#include "wmark/util/error.h"
#include "wmark/verify/verifier.h"
#include "wmark/watermark/embed.h"

using namespace wmark;
using Catch::Matchers::Contains;

namespace {

// A user's model, defined here, not in wmark's registry.
struct UserNetImpl : torch::nn::Module {
  UserNetImpl() {
    conv1 = register_module("conv1", torch::nn::Conv2d(torch::nn::Conv2dOptions(1, 16, 3)));
    conv2 = register_module("conv2", torch::nn::Conv2d(torch::nn::Conv2dOptions(16, 32, 3)));
    fc = register_module("fc", torch::nn::Linear(32 * 5 * 5, 10));
  }
  torch::Tensor forward(torch::Tensor x) {
    x = torch::max_pool2d(torch::relu(conv1(x)), 2);
    x = torch::max_pool2d(torch::relu(conv2(x)), 2);
    return fc(x.flatten(1));
  }
  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr};
  torch::nn::Linear fc{nullptr};
};
TORCH_MODULE(UserNet);

const Dataset& small_train() {
  static const Dataset subset = balanced_subset(test::mnist().train, 3000, 5);
  return subset;
}

TriggerWatermarkOptions content_options(std::uint64_t seed) {
  auto options = TriggerWatermarkOptions().trigger("content");
  options.spec().secret = experiment_secret(seed, "test");
  options.spec().size = 50;
  return options;
}

}  // namespace

TEST_CASE("mix appends the trigger share to a raw or a normalised batch", "[watermark]") {
  const auto& train = small_train();
  auto embedder = make_trigger_embedder(train, content_options(7));
  REQUIRE(embedder->options().trigger_ratio() == Approx(0.1));
  const auto& triggers = embedder->triggers();
  auto raw = train.images.narrow(0, 0, 64);
  auto labels = train.labels.narrow(0, 0, 64);

  auto mixed = embedder->mix(raw, labels);
  CHECK(mixed.clean_size == 64);
  REQUIRE(mixed.images.size(0) == 64 + 6);  // round(0.1 * 64)
  CHECK(mixed.images.scalar_type() == torch::kUInt8);
  CHECK(torch::equal(mixed.images.narrow(0, 0, 64), raw));
  // The appended images are triggers, with their watermark labels.
  for (std::int64_t i = 64; i < 70; ++i) {
    auto match = (triggers.images == mixed.images[i]).flatten(1).all(1).nonzero();
    REQUIRE(match.numel() >= 1);
    CHECK(triggers.labels[match[0].item<std::int64_t>()].item<std::int64_t>() ==
          mixed.labels[i].item<std::int64_t>());
  }

  // A normalised float batch gets the same kind of samples, normalised by the key.
  auto second = make_trigger_embedder(train, content_options(7));
  auto floats = train.normalization.apply(raw);
  auto mixed_float = second->mix(floats, labels);
  CHECK(mixed_float.images.scalar_type() == torch::kFloat);
  CHECK(torch::allclose(mixed_float.images, train.normalization.apply(mixed.images)));
  CHECK(torch::equal(mixed_float.labels, mixed.labels));

  CHECK_THROWS_WITH(embedder->mix(torch::zeros({4, 3, 32, 32}, torch::kUInt8), labels.narrow(0, 0, 4)),
                    Contains("the key's input shape"));
  CHECK_THROWS_WITH(embedder->mix(raw, labels.narrow(0, 0, 3)), Contains("labels must be [64]"));
}

TEST_CASE("the Trainer's hook and a hand-written loop mix the same samples", "[watermark]") {
  const auto& train = small_train();
  auto through_hook = make_trigger_embedder(train, content_options(9));
  auto direct = make_trigger_embedder(train, content_options(9));
  for (int step = 0; step < 20; ++step) {  // wraps around the 50 triggers
    auto images = train.images.narrow(0, step * 32, 32);
    auto labels = train.labels.narrow(0, step * 32, 32);
    Batch batch{images, labels, 32};
    static_cast<TrainerHook&>(*through_hook).extend_batch(batch, StepContext{1, step, 20});
    auto mixed = direct->mix(images, labels);
    CHECK(batch.clean_size == 32);
    REQUIRE(torch::equal(batch.images, mixed.images));
    REQUIRE(torch::equal(batch.labels, mixed.labels));
  }
}

TEST_CASE("a user-defined module is watermarked, verified, and a clean twin is not claimed", "[watermark]") {
  const auto& mnist = test::mnist();
  DatasetSplits splits{small_train(), balanced_subset(mnist.test, 1000, 1)};
  const auto options = TrainerOptions().epochs(3).batch_size(64).optimizer("adam").lr(0.002).seed(3);
  CheckpointInfo info;
  info.arch = "UserNet";
  torch::manual_seed(11);
  UserNet marked;
  auto result = embed_trigger_watermark(as_network(marked), splits, options, content_options(21), info);
  torch::manual_seed(11);
  UserNet clean;
  Trainer(as_network(clean), options, info).fit(splits.train);

  CHECK(result.key.params.at("arch") == "UserNet");
  CHECK(result.trigger_accuracy >= 0.95);
  Verifier verifier;
  ModuleClassifier marked_suspect(as_network(marked), result.key.normalization, "marked UserNet");
  ModuleClassifier clean_suspect(as_network(clean), result.key.normalization, "clean UserNet");
  const auto marked_report = verifier.verify(marked_suspect, result.key);
  const auto clean_report = verifier.verify(clean_suspect, result.key);
  CHECK(marked_report.verified);
  CHECK(marked_report.p_value < 1e-20);
  CHECK_FALSE(clean_report.verified);
  CHECK(clean_report.match_rate < 0.3);
  // Both learnt the real task.
  CHECK(accuracy(*as_network(marked), splits.test, torch::kCPU) > 0.85);
  CHECK(accuracy(*as_network(clean), splits.test, torch::kCPU) > 0.85);

  // Attacks take the user's module too: a pruned copy, the original untouched.
  AttackContext context;
  context.data = splits.test;
  context.make_model = [] { return as_network(UserNet()); };
  context.arch = "UserNet";
  const auto before = marked->fc->weight.clone();
  auto pruned = PruneAttack(PruneOptions().rate(0.5)).run(*as_network(marked), context);
  CHECK(torch::equal(before, marked->fc->weight));
  CHECK(pruned.details.at("sparsity").get<double>() >= 0.5 - 1e-4);
  ModuleClassifier pruned_suspect(pruned.model, result.key.normalization, "pruned UserNet");
  const auto pruned_report = verifier.verify(pruned_suspect, result.key);
  INFO("pruned: match " << pruned_report.match_rate << ", p " << pruned_report.p_value);
  CHECK(pruned_report.verified);  // half the weights gone, the mark remains (Zhang et al.)
}

TEST_CASE("a model that does not fit the data is refused before training", "[watermark]") {
  const auto& mnist = test::mnist();
  DatasetSplits splits{small_train(), balanced_subset(mnist.test, 200, 1)};
  auto wrong = torch::nn::Sequential(torch::nn::Flatten(), torch::nn::Linear(3 * 32 * 32, 10));
  CheckpointInfo info;
  info.arch = "cifar-shaped";
  CHECK_THROWS_WITH(embed_trigger_watermark(as_network(wrong), splits, TrainerOptions().epochs(1),
                                            content_options(1), info),
                    Contains("cifar-shaped does not accept images of shape 1x28x28"));
}
