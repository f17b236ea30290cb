#include <catch2/catch.hpp>

#include <torch/torch.h>

#include "../support/test_support.h"
#include "wmark/models/checkpoint.h"
#include "wmark/models/registry.h"
#include "wmark/util/error.h"
#include "wmark/util/files.h"

using namespace wmark;
using Catch::Matchers::Contains;

TEST_CASE("every registered architecture maps its input shape to class logits", "[models]") {
  torch::NoGradGuard no_grad;
  for (const auto& name : model_registry().names()) {
    for (ModelSpec spec : {ModelSpec{{1, 28, 28}, 10}, ModelSpec{{3, 32, 32}, 7}}) {
      INFO(name << " " << spec.input.str());
      auto model = model_registry().create(name, spec);
      model->eval();
      auto logits = model->forward(torch::randn({3, spec.input.channels, spec.input.height, spec.input.width}));
      CHECK(logits.sizes() == torch::IntArrayRef({3, spec.num_classes}));
    }
  }
  CHECK_THROWS_WITH(model_registry().create("vgg99", {{1, 28, 28}, 10}), Contains("unknown model") && Contains("mnist_cnn"));
  CHECK_THROWS_WITH(model_registry().create("mnist_cnn", {{1, 4, 4}, 10}), Contains("at least"));
}

TEST_CASE("a checkpoint round trip gives identical logits", "[models]") {
  test::TempDir dir;
  torch::manual_seed(3);
  CheckpointInfo info{"cifar_cnn", {{3, 32, 32}, 10}, "cifar10", {{0.5, 0.5, 0.5}, {0.25, 0.25, 0.25}}, 4, {{"note", "x"}}};
  auto model = model_registry().create(info.arch, info.spec);
  // Move batch-norm statistics away from their defaults so buffers are covered too.
  model->train();
  model->forward(torch::randn({8, 3, 32, 32}) * 3 + 1);
  model->eval();
  const auto path = dir / "model.pt";
  save_checkpoint(path, *model, info);
  CHECK_THROWS_WITH(save_checkpoint(path, *model, info), Contains("already exists"));

  auto loaded = load_checkpoint(path);
  CHECK(loaded.info.arch == "cifar_cnn");
  CHECK(loaded.info.epoch == 4);
  CHECK(loaded.info.normalization.stddev == std::vector<double>{0.25, 0.25, 0.25});
  CHECK(loaded.info.extra["note"] == "x");
  torch::NoGradGuard no_grad;
  auto x = torch::randn({5, 3, 32, 32});
  CHECK(torch::equal(model->forward(x), loaded.model->forward(x)));
}

TEST_CASE("loading a checkpoint into the wrong architecture is a clear error", "[models]") {
  test::TempDir dir;
  CheckpointInfo info{"mnist_cnn", {{1, 28, 28}, 10}, "mnist", {{0.1}, {0.3}}, 1, nlohmann::json::object()};
  auto model = model_registry().create(info.arch, info.spec);
  save_checkpoint(dir / "m.pt", *model, info);
  CHECK_THROWS_WITH(load_checkpoint(dir / "m.pt", std::string("cifar_cnn")),
                    Contains("m.pt") && Contains("mnist_cnn") && Contains("cifar_cnn"));
  auto wider = model_registry().create("mnist_cnn", {{1, 28, 28}, 12});
  CHECK_THROWS_WITH(load_weights(dir / "m.pt", *wider), Contains("fc2.weight") && Contains("[10,256]"));
  auto other = model_registry().create("resnet18", {{1, 28, 28}, 10});
  CHECK_THROWS_WITH(load_weights(dir / "m.pt", *other), Contains("has no tensor"));
  test::write_bytes(dir / "junk.pt", "this is not a model");
  CHECK_THROWS_WITH(load_checkpoint(dir / "junk.pt"), Contains("junk.pt") && Contains("not a wmark checkpoint"));
  CHECK_THROWS_WITH(load_checkpoint(dir / "absent.pt"), Contains("absent.pt") && Contains("does not exist"));
}
