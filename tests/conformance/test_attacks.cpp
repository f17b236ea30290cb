// Every registered attack must honour the Attack contract (attack/attack.h).
#include <catch2/catch.hpp>

#include <torch/torch.h>

#include "../support/watermarked_fixture.h"
#include "declared_options.h"
#include "wmark/util/error.h"

using namespace wmark;

namespace {

// Small but real settings per attack, so the whole check stays in seconds.
nlohmann::json quick_attack_options(const std::string& name) {
  if (name == "finetune") return {{"epochs", 1}};
  if (name == "prune") return {{"rate", 0.5}, {"finetune_epochs", 1}};
  if (name == "overwrite") return {{"epochs", 1}, {"trigger_size", 20}};
  if (name == "distill") return {{"epochs", 1}};
  if (name == "retraining") return {{"epochs", 1}, {"budget", 500}};
  if (name == "cross-architecture-retraining") return {{"epochs", 1}, {"budget", 300}};
  if (name == "knockoff") return {{"epochs", 1}, {"budget", 500}};
  if (name == "fine-pruning") return {{"epochs", 1}};
  if (name == "inversion") return {{"steps", 10}};
  if (name == "label-smoothing" || name == "label-noising" || name == "weight-shifting") return {{"epochs", 1}};
  if (name == "neural-cleanse-unlearning" || name == "neural-laundering") {
    return {{"reverse_steps", 5}, {"refine_steps", 5}, {"epochs", 1}};
  }
  if (name == "combined") {
    return {{"first", {{"attack", "finetune"}, {"options", {{"epochs", 1}}}}},
            {"second", {{"attack", "input-gaussian-smoothing"}}}};
  }
  if (name == "input-reconstruction") return {{"steps", 20}};
  if (name == "random-occlusion") return {{"repeats", 1}};
  if (name == "adversarial-training") return {{"epochs", 1}, {"max_iter", 2}};
  if (name == "neural-cleanse-pruning") return {{"reverse_steps", 5}, {"refine_steps", 5}};
  if (name == "feature-regularization") return {{"epochs", 1}};
  if (name == "transfer-learning") return {{"parent_images", 500}, {"parent_epochs", 1}, {"budget", 500}, {"epochs", 1}};
  if (name == "regularization") return {{"reg_epochs", 1}, {"max_ft_epochs", 2}, {"patience", 1}};
  return nlohmann::json::object();
}

}  // namespace

TEST_CASE("every attack keeps the victim intact, is repeatable and yields a usable result", "[conformance]") {
  const auto& f = test::watermarked_mnist();
  const auto names = attack_registry().names();
  REQUIRE(names == std::vector<std::string>{"adversarial-training", "combined", "cross-architecture-retraining",
                                            "distill", "dummy-neurons", "feature-regularization", "feature-squeezing", "fine-pruning",
                                            "finetune", "input-flipping", "input-gaussian-smoothing",
                                            "input-median-smoothing", "input-noising", "input-quantization",
                                            "input-reconstruction",
                                            "inversion", "jpeg-compression", "knockoff", "label-noising",
                                            "label-smoothing", "neural-cleanse-pruning", "neural-cleanse-unlearning",
                                            "neural-laundering", "neuron-permutation", "neuron-scaling", "overwrite",
                                            "prune", "query-detection", "random-occlusion", "regularization",
                                            "retraining", "transfer-learning", "weight-quantization", "weight-shifting"});
  for (const auto& name : names) {
    SECTION(name) {
      auto attack = attack_registry().create(name, quick_attack_options(name));
      CHECK(attack->name() == name);
      CHECK(attack->options().is_object());
      // The options it reports rebuild the same attack.
      CHECK(attack_registry().create(name, attack->options())->options() == attack->options());
      test::check_declared_options(attack_registry(), name);

      const auto before = test::snapshot(*f.model);
      auto first = attack->run(*f.model, f.context);
      CHECK(test::same_as(*f.model, before));
      CHECK(first.details.is_object());
      CHECK(first.arch == (name == "cross-architecture-retraining" ? "cifar_cnn" : "mnist_cnn"));
      auto second = attack->run(*f.model, f.context);
      if (first.model) {
        REQUIRE(second.model);
        CHECK(first.model != f.model);
        auto x = f.key.normalization.apply(f.test.images.narrow(0, 0, 8));
        first.model->eval();
        second.model->eval();
        auto a = first.model->forward(x), b = second.model->forward(x);
        CHECK(a.sizes() == torch::IntArrayRef({8, 10}));
        CHECK(torch::allclose(a, b, 1e-4, 1e-4));  // same seed, same result
      } else {
        REQUIRE(first.images.defined());
        CHECK(first.images.size(0) == first.image_labels.size(0));
        CHECK(torch::equal(first.images, second.images));
      }
    }
  }
}
