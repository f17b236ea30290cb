// Every embedder must honour the Embedder contract (watermark/embedder.h).
#include <catch2/catch.hpp>

#include <torch/torch.h>

#include "../support/test_support.h"
#include "wmark/data/subset.h"
#include "wmark/models/registry.h"
#include "wmark/train/trainer.h"
#include "wmark/util/files.h"
#include "wmark/watermark/embed.h"
#include "wmark/watermark/whitebox/deepsigns.h"
#include "wmark/watermark/whitebox/uchida.h"

using namespace wmark;

namespace {

struct EmbedderCase {
  std::string method, metric;
  std::function<std::shared_ptr<Embedder>(NetworkPtr, const Dataset&)> make;
};

std::vector<EmbedderCase> embedders() {
  return {
      {"trigger-set", "trigger_accuracy",
       [](NetworkPtr, const Dataset& train) {
         auto options = TriggerWatermarkOptions().trigger("content");
         options.spec().size = 20;
         return std::static_pointer_cast<Embedder>(make_trigger_embedder(train, options, "mnist_cnn"));
       }},
      {"uchida", "bit_error_rate",
       [](NetworkPtr model, const Dataset& train) {
         return std::static_pointer_cast<Embedder>(
             make_uchida_embedder(*model, train, UchidaOptions().layer("conv1").bits(16), "mnist_cnn"));
       }},
      {"deepsigns", "bit_error_rate",
       [](NetworkPtr model, const Dataset& train) {
         return std::static_pointer_cast<Embedder>(
             make_deepsigns_embedder(model, train, DeepSignsOptions().bits(16).key_inputs(20), "mnist_cnn"));
       }},
  };
}

}  // namespace

TEST_CASE("every embedder mixes, adds its loss, reports progress and writes a loadable key", "[conformance]") {
  const auto train = balanced_subset(test::mnist().train, 1000, 9);
  for (const auto& c : embedders()) {
    SECTION(c.method) {
      torch::manual_seed(3);
      auto model = model_registry().create("mnist_cnn", {train.shape(), 10});
      auto embedder = c.make(model, train);
      CHECK(embedder->method() == c.method);

      // mix(): the clean samples come first and unchanged, labels stay aligned.
      auto x = train.normalization.apply(train.images.narrow(0, 0, 32));
      auto y = train.labels.narrow(0, 0, 32);
      auto batch = embedder->mix(x, y);
      CHECK(batch.clean_size == 32);
      REQUIRE(batch.images.size(0) == batch.labels.size(0));
      CHECK(torch::equal(batch.images.narrow(0, 0, 32), x));
      CHECK(batch.labels.max().item<std::int64_t>() < 10);
      // loss_term(): none, or a finite scalar that reaches the parameters.
      auto logits = model->forward(batch.images);
      auto extra = embedder->loss_term(batch, logits, *model);
      if (extra.defined()) {
        CHECK(extra.dim() == 0);
        CHECK(std::isfinite(extra.item<double>()));
        CHECK(extra.requires_grad());
      }

      // Through the Trainer: the metric of the contract appears after each epoch.
      Trainer trainer(model, TrainerOptions().epochs(1).optimizer("adam").lr(0.002).seed(2));
      trainer.add_hook(embedder);
      auto result = trainer.fit(train);
      REQUIRE(result.history.size() == 1);
      CHECK(result.history[0].metrics.count(c.metric) == 1);

      // key(): its method, secret tensors, and a save/load round trip with the same commitment.
      auto key = embedder->key();
      CHECK(key.method == c.method);
      CHECK_FALSE(key.tensors.empty());
      CHECK(key.input_shape == train.shape());
      test::TempDir dir;
      key.save(dir / "k.wmk");
      CHECK(WatermarkKey::load(dir / "k.wmk").commitment() == key.commitment());
    }
  }
}
