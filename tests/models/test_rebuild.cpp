// Rebuilding a registered architecture from a model that holds its tensors behind
// another wrapper (models/rebuild.h): a TorchScript export comes back as the same model,
// and anything that is not that architecture, or wires its tensors otherwise, is refused
// with the reason.
#include <catch2/catch.hpp>

#include <torch/torch.h>

#include "../support/test_support.h"
#include "wmark/models/architectures.h"
#include "wmark/models/hidden_units.h"
#include "wmark/models/module_adapter.h"
#include "wmark/models/rebuild.h"
#include "wmark/models/registry.h"
#include "wmark/models/torchscript.h"

using namespace wmark;
using Catch::Matchers::Contains;

namespace {

// mnist_cnn's tensors under mnist_cnn's names, read mirrored: another function.
struct MirroredMnistCnn : MnistCnn {
  explicit MirroredMnistCnn(const ModelSpec& spec) : MnistCnn(spec) {}
  torch::Tensor forward(torch::Tensor x) override { return MnistCnn::forward(x.flip(3)); }
};

at::Tensor rebuild_probes() {
  torch::manual_seed(5);
  return torch::randn({8, 1, 28, 28});
}

}  // namespace

TEST_CASE("a TorchScript export is rebuilt as its architecture, at widened widths too", "[models]") {
  const ModelSpec spec{{1, 28, 28}, 10};
  auto model = test::fresh_mnist_cnn(3);
  // A thief's extra units: the rebuilt model must take the file's widths.
  resize_units(*model, hidden_unit_layers(*model)[0], 40);
  model->eval();
  test::TempDir dir;
  save_torchscript(*model, spec.input, dir / "model.ts");
  auto script = load_script_network(dir / "model.ts", torch::kCPU);
  REQUIRE_THROWS(hidden_unit_layers(*script));  // what the rebuild is for

  const auto rebuilt = rebuild_as(*script, "mnist_cnn", spec, rebuild_probes());
  INFO(rebuilt.reason);
  REQUIRE(rebuilt.model);
  CHECK(rebuilt.reason.empty());
  CHECK(rebuilt.max_logit_difference <= 1e-5);
  CHECK(hidden_unit_layers(*rebuilt.model)[0].units == 40);
  CHECK(torch::equal(rebuilt.model->named_parameters()["conv1.weight"], model->named_parameters()["conv1.weight"]));
  torch::NoGradGuard no_grad;
  const auto x = torch::randn({4, 1, 28, 28});
  CHECK(torch::allclose(rebuilt.model->forward(x), model->forward(x), 1e-5, 1e-5));
}

// The same tensors under other names, in the same order (a renamed export): matched by
// position, and accepted because the function is the same.
TEST_CASE("renamed tensors are matched by position when the function agrees", "[models]") {
  const ModelSpec spec{{1, 28, 28}, 10};
  auto inner = test::fresh_mnist_cnn(4);
  auto renamed = as_network(std::static_pointer_cast<torch::nn::Module>(inner),
                            [inner](const torch::Tensor& x) { return inner->forward(x); });
  REQUIRE(renamed->named_parameters().find("conv1.weight") == nullptr);
  const auto rebuilt = rebuild_as(*renamed, "mnist_cnn", spec, rebuild_probes());
  INFO(rebuilt.reason);
  REQUIRE(rebuilt.model);
  CHECK(torch::equal(rebuilt.model->named_parameters()["fc1.weight"], inner->named_parameters()["fc1.weight"]));
}

TEST_CASE("rebuilding refuses another architecture, other wiring and an unknown name, saying why", "[models]") {
  const ModelSpec spec{{1, 28, 28}, 10};
  const auto probes = rebuild_probes();
  auto mirrored = std::make_shared<MirroredMnistCnn>(spec);
  const auto rewired = rebuild_as(*mirrored, "mnist_cnn", spec, probes);
  CHECK_FALSE(rewired.model);
  CHECK_THAT(rewired.reason, Contains("computes another function"));
  CHECK(rewired.max_logit_difference > 1e-3);

  auto cifar = model_registry().create("cifar_cnn", spec);
  const auto other = rebuild_as(*cifar, "mnist_cnn", spec, probes);
  CHECK_FALSE(other.model);
  CHECK_THAT(other.reason, Contains("parameters, mnist_cnn"));

  const auto unknown = rebuild_as(*test::fresh_mnist_cnn(1), "lenet7", spec, probes);
  CHECK_FALSE(unknown.model);
  CHECK_THAT(unknown.reason, Contains("'lenet7' is not registered"));
}
