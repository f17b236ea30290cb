// Function-preserving attacks (no data, no training): neuron permutation, scaling and dummy
// neurons must
// leave the logits of every built-in architecture unchanged, on real test images, while
// moving its weights; and they refuse models whose structure wmark does not know.
#include <catch2/catch.hpp>

#include <torch/torch.h>

#include "../support/test_support.h"
#include "../support/watermarked_fixture.h"
#include "wmark/attack/dummy_neurons.h"
#include "wmark/attack/neuron_permutation.h"
#include "wmark/attack/neuron_scaling.h"
#include "wmark/data/readers.h"
#include "wmark/data/subset.h"
#include "wmark/models/checkpoint.h"
#include "wmark/models/clone.h"
#include "wmark/models/hidden_units.h"
#include "wmark/models/module_adapter.h"
#include "wmark/models/registry.h"
#include "wmark/util/error.h"

using namespace wmark;
using Catch::Matchers::Contains;

namespace {

// 256 real CIFAR-10 test images with CIFAR-10's normalisation.
const Dataset& cifar_images() {
  static const Dataset d = [] {
    auto test = read_cifar10({test::shared_data() / "cifar-10-batches-bin" / "test_batch.bin.gz"});
    test.normalization = {{0.4914, 0.4822, 0.4465}, {0.247, 0.243, 0.261}};
    return balanced_subset(test, 256, 3);
  }();
  return d;
}

// An untrained model of `arch` whose batch norms hold real statistics (a few train-mode
// forwards over CIFAR images), so the running means and variances are not the defaults.
NetworkPtr cifar_model(const std::string& arch) {
  torch::manual_seed(11);
  auto model = model_registry().create(arch, {{3, 32, 32}, 10});
  model->train();
  torch::NoGradGuard no_grad;
  const auto& d = cifar_images();
  for (int i = 0; i < 3; ++i) model->forward(d.normalization.apply(d.images.narrow(0, 64 * i, 64)));
  model->eval();
  return model;
}

double largest_weight_change(Network& a, Network& b) {
  double largest = 0;
  auto pa = a.named_parameters(), pb = b.named_parameters();
  for (const auto& item : pa) largest = std::max(largest, (item.value() - pb[item.key()]).abs().max().item<double>());
  return largest;
}

}  // namespace

TEST_CASE("neuron permutation and scaling keep every built-in architecture's function on real images", "[attack]") {
  struct Case {
    std::string arch;
    NetworkPtr model;
    Dataset data;
    std::size_t layers;
  };
  const auto& f = test::watermarked_mnist();
  std::vector<Case> cases = {{"mnist_cnn", f.model, f.context.data, 3},
                             {"cifar_cnn", cifar_model("cifar_cnn"), cifar_images(), 7},
                             {"resnet18", cifar_model("resnet18"), cifar_images(), 8}};
  for (auto& c : cases) {
    SECTION(c.arch) {
      REQUIRE(hidden_unit_layers(*c.model).size() == c.layers);
      const auto context = test::attack_context(c.arch, c.data, 5);
      const auto x = c.data.normalization.apply(c.data.images.narrow(0, 0, 128));
      torch::NoGradGuard no_grad;
      const auto expected = c.model->forward(x);
      const std::vector<std::shared_ptr<Attack>> attacks = {std::make_shared<NeuronPermutationAttack>(),
                                                            std::make_shared<NeuronScalingAttack>()};
      for (const auto& attack : attacks) {
        INFO(attack->name());
        auto result = attack->run(*c.model, context);
        result.model->eval();
        const auto scale = expected.abs().max().item<double>();
        CHECK((result.model->forward(x) - expected).abs().max().item<double>() <= 1e-4 * std::max(1.0, scale));
        CHECK(result.details["max_logit_difference"].get<double>() <= 1e-4 * std::max(1.0, scale));
        CHECK(result.details["layers"].size() == c.layers);
        CHECK(largest_weight_change(*c.model, *result.model) > 1e-2);  // the weights did move
        {
          // resnet18's four residual streams are reordered and rescaled too, each all at once.
          const auto& streams = result.details["streams"];
          CHECK(streams.size() == (c.arch == "resnet18" ? 4u : 0u));
          for (const auto& stream : streams)
            CHECK((attack->name() == "neuron-permutation" ? stream["moved"].get<std::int64_t>() > 0
                                                          : stream["max_factor"].get<double>() > 1.5));
        }
        if (attack->name() == "neuron-scaling") {
          // Signs flip exactly where a batch norm follows the units.
          const auto layers = hidden_unit_layers(*c.model);
          for (std::size_t i = 0; i < layers.size(); ++i)
            CHECK((result.details["layers"][i]["flipped"].get<std::int64_t>() > 0) == !layers[i].norm.empty());
        }
      }
    }
  }
}

TEST_CASE("neuron attacks move the units they say: a permutation is a permutation, factors in range", "[attack]") {
  const auto& f = test::watermarked_mnist();
  auto permuted = NeuronPermutationAttack(NeuronPermutationOptions().layers("fc1")).run(*f.model, f.context);
  REQUIRE(permuted.details["layers"].size() == 1);
  CHECK(permuted.details["layers"][0]["moved"].get<std::int64_t>() > 100);
  // fc1's rows are fc1's rows, reordered: the same multiset of row norms.
  auto norms = [](Network& m) { return std::get<0>(m.named_parameters()["fc1.weight"].norm(2, {1}).sort()); };
  CHECK(torch::allclose(norms(*f.model), norms(*permuted.model)));
  CHECK_FALSE(torch::equal(f.model->named_parameters()["fc1.weight"], permuted.model->named_parameters()["fc1.weight"]));
  // conv1 untouched when only fc1 is chosen.
  CHECK(torch::equal(f.model->named_parameters()["conv1.weight"], permuted.model->named_parameters()["conv1.weight"]));

  auto scaled = NeuronScalingAttack(NeuronScalingOptions().max_scale(3)).run(*f.model, f.context);
  for (const auto& layer : scaled.details["layers"]) {
    CHECK(layer["min_factor"].get<double>() >= 1 / 3.0 - 1e-6);
    CHECK(layer["max_factor"].get<double>() <= 3.0 + 1e-6);
  }
  CHECK_THROWS_WITH(NeuronScalingAttack(NeuronScalingOptions().max_scale(0.5)), Contains("max_scale"));
  CHECK_THROWS_WITH(NeuronScalingAttack(NeuronScalingOptions().flip_rate(1.5)), Contains("flip_rate"));
  CHECK_THROWS_WITH(NeuronPermutationAttack(NeuronPermutationOptions().layers("fc9")).run(*f.model, f.context),
                    Contains("fc9") && Contains("conv1, conv2, fc1"));
}

TEST_CASE("resnet18's residual streams name every writer and reader of a stage's channels", "[attack]") {
  auto resnet = model_registry().create("resnet18", {{3, 32, 32}, 10});
  const auto streams = residual_streams(*resnet);
  REQUIRE(streams.size() == 4);
  CHECK(streams[0].units == 64);
  CHECK(streams[3].units == 512);
  CHECK(streams[0].producers ==
        std::vector<std::string>{"stem.0.weight", "layers.0.conv2.weight", "layers.1.conv2.weight"});
  CHECK(streams[0].readers == std::vector<std::string>{"layers.0.conv1.weight", "layers.1.conv1.weight",
                                                       "layers.2.conv1.weight", "layers.2.shortcut.0.weight"});
  CHECK(streams[1].producers ==
        std::vector<std::string>{"layers.2.shortcut.0.weight", "layers.2.conv2.weight", "layers.3.conv2.weight"});
  CHECK(streams[3].readers.back() == "fc.weight");
  CHECK(residual_streams(*model_registry().create("cifar_cnn", {{3, 32, 32}, 10})).empty());
  CHECK_THROWS_WITH(permute_stream(*resnet, streams[0], torch::zeros({64}, torch::kLong)), Contains("permutation"));
  CHECK_THROWS_WITH(scale_stream(*resnet, streams[0], -torch::ones({64})), Contains("positive"));
}

TEST_CASE("hidden-unit transformations refuse what would not keep the function", "[attack]") {
  auto model = model_registry().create("mnist_cnn", {{1, 28, 28}, 10});
  const auto layer = hidden_unit_layers(*model).front();
  CHECK_THROWS_WITH(permute_units(*model, layer, torch::zeros({layer.units}, torch::kLong)), Contains("permutation"));
  CHECK_THROWS_WITH(scale_units(*model, layer, -torch::ones({layer.units})), Contains("positive"));
  // mnist_cnn has no batch norm: a sign would have to pass the ReLU.
  CHECK_THROWS_WITH(flip_unit_signs(*model, layer, torch::ones({layer.units}, torch::kBool)),
                    Contains("no batch norm"));
  auto cifar = model_registry().create("cifar_cnn", {{3, 32, 32}, 10});
  CHECK_THROWS_WITH(flip_unit_signs(*cifar, hidden_unit_layers(*cifar).front(), torch::ones({3}, torch::kBool)),
                    Contains("booleans"));
  // A network whose structure wmark does not know (here a plain module behind the adapter).
  auto adapted = as_network(torch::nn::AnyModule(torch::nn::Linear(784, 10)));
  CHECK_THROWS_WITH(hidden_unit_layers(*adapted), Contains("not known"));
}

// Dummy neurons widen every hidden layer (residual blocks included) with units that cancel
// or are read by nobody, shuffled in: the logits stay, the widths do not.
TEST_CASE("dummy neurons keep every built-in architecture's function on real images, at other widths", "[attack]") {
  const auto& f = test::watermarked_mnist();
  const std::vector<std::tuple<std::string, NetworkPtr, Dataset>> cases = {
      {"mnist_cnn", f.model, f.context.data},
      {"cifar_cnn", cifar_model("cifar_cnn"), cifar_images()},
      {"resnet18", cifar_model("resnet18"), cifar_images()}};
  for (const auto& [arch, model, data] : cases) {
    const auto x = data.normalization.apply(data.images.narrow(0, 0, 128));
    torch::NoGradGuard no_grad;
    const auto expected = model->forward(x);
    const auto bound = 1e-4 * std::max(1.0, expected.abs().max().item<double>());
    const auto before = hidden_unit_layers(*model);
    for (const std::string variant : {"zero", "split", "clique", "mixed"}) {
      INFO(arch << " " << variant);
      auto c = test::attack_context(arch, data, 7);
      const auto result = DummyNeuronsAttack(DummyNeuronsOptions().variant(variant)).run(*model, c);
      result.model->eval();
      CHECK((result.model->forward(x) - expected).abs().max().item<double>() <= bound);
      CHECK(result.details["max_logit_difference"].get<double>() <= bound);
      const auto after = hidden_unit_layers(*result.model);
      REQUIRE(after.size() == before.size());
      for (std::size_t i = 0; i < after.size(); ++i) {
        const auto& reported = result.details["layers"][i];
        const auto added = reported["zero"].get<std::int64_t>() + reported["split"].get<std::int64_t>() +
                           reported["clique"].get<std::int64_t>();
        CHECK(added == std::max<std::int64_t>(1, std::llround(0.25 * before[i].units)));
        CHECK(reported[variant == "mixed" ? "zero" : variant].get<std::int64_t>() > 0);
        CHECK(after[i].units == before[i].units + added);
        CHECK(reported["units_after"] == after[i].units);
      }
    }
  }
}

// The thief's widened model is a file like any other: saved, loaded and cloned at its
// widths with the same function; a file claiming absurd widths is refused, naming it.
TEST_CASE("widened models survive a checkpoint and a clone; absurd widths are refused", "[attack]") {
  const auto& f = test::watermarked_mnist();
  const auto widened = DummyNeuronsAttack().run(*f.model, f.context).model;
  widened->eval();
  const auto x = f.key.normalization.apply(f.test.images.narrow(0, 0, 64));
  torch::NoGradGuard no_grad;
  const auto expected = widened->forward(x);
  test::TempDir dir;
  CheckpointInfo info;
  info.arch = "mnist_cnn";
  info.spec = {{1, 28, 28}, 10};
  info.dataset = "mnist";
  info.normalization = f.key.normalization;
  save_checkpoint(dir / "widened.pt", *widened, info);
  const auto loaded = load_checkpoint(dir / "widened.pt", "mnist_cnn").model;
  CHECK(torch::allclose(loaded->forward(x), expected, 1e-5, 1e-5));
  CHECK(hidden_unit_layers(*loaded)[0].units == hidden_unit_layers(*widened)[0].units);
  const auto copy = clone_network(*widened, f.context.make_model);
  copy->eval();
  CHECK(torch::allclose(copy->forward(x), expected, 1e-5, 1e-5));

  auto huge = model_registry().create("mnist_cnn", info.spec);
  resize_units(*huge, hidden_unit_layers(*huge)[0], 64 * 32 + 1);
  save_checkpoint(dir / "huge.pt", *huge, info);
  CHECK_THROWS_WITH(load_checkpoint(dir / "huge.pt"), Contains("huge.pt") && Contains("layer conv1 has 2049 units"));
}
