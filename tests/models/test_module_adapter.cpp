#include <catch2/catch.hpp>

#include <torch/script.h>
#include <torch/torch.h>

#include "wmark/models/module_adapter.h"
#include "wmark/util/error.h"

using namespace wmark;
using Catch::Matchers::Contains;

namespace {

// A user's own model, written the usual LibTorch way.
struct TinyNetImpl : torch::nn::Module {
  TinyNetImpl() {
    conv = register_module("conv", torch::nn::Conv2d(torch::nn::Conv2dOptions(1, 4, 3)));
    fc = register_module("fc", torch::nn::Linear(4 * 13 * 13, 10));
  }
  torch::Tensor forward(torch::Tensor x) { return fc(torch::max_pool2d(torch::relu(conv(x)), 2).flatten(1)); }
  torch::nn::Conv2d conv{nullptr};
  torch::nn::Linear fc{nullptr};
};
TORCH_MODULE(TinyNet);

torch::jit::Module tiny_script() {
  torch::manual_seed(3);
  torch::jit::Module module("TinyScript");
  // Scripted Python modules carry this attribute; train()/eval() set it.
  module.register_attribute("training", c10::BoolType::get(), true);
  module.register_parameter("weight", torch::randn({10, 784}) * 0.01, false);
  module.register_parameter("bias", torch::zeros({10}), false);
  module.define(R"JIT(
def forward(self, x):
    return torch.linear(torch.flatten(x, 1), self.weight, self.bias)
)JIT");
  return module;
}

}  // namespace

TEST_CASE("as_network wraps a user's module without copying its parameters", "[models]") {
  torch::manual_seed(1);
  TinyNet user;
  auto net = as_network(user);
  auto x = torch::randn({3, 1, 28, 28});
  CHECK(torch::equal(net->forward(x), user->forward(x)));
  REQUIRE(net->parameters().size() == user->parameters().size());
  CHECK(net->parameters()[0].data_ptr() == user->parameters()[0].data_ptr());
  // One optimiser step through the wrapper changes the user's own tensors.
  auto before = user->fc->weight.clone();
  torch::optim::SGD sgd(net->parameters(), 0.1);
  net->forward(x).sum().backward();
  sgd.step();
  CHECK_FALSE(torch::equal(before, user->fc->weight));
  // train()/eval() reach the wrapped module.
  net->eval();
  CHECK_FALSE(user->is_training());
  // A Network passes through unchanged.
  CHECK(as_network(net) == net);
}

TEST_CASE("as_network takes an AnyModule and a TorchScript module", "[models]") {
  torch::manual_seed(2);
  TinyNet user;
  auto any = as_network(torch::nn::AnyModule(user));
  auto x = torch::randn({2, 1, 28, 28});
  CHECK(torch::equal(any->forward(x), user->forward(x)));

  auto script = tiny_script();
  auto net = as_network(script);
  CHECK(torch::equal(net->forward(x), script.forward({x}).toTensor()));
  REQUIRE(net->named_parameters().contains("weight"));
  auto before = script.attr("weight").toTensor().clone();
  torch::optim::SGD sgd(net->parameters(), 0.1);
  net->forward(x).sum().backward();
  sgd.step();
  CHECK_FALSE(torch::equal(before, script.attr("weight").toTensor()));
  net->eval();
  CHECK_FALSE(script.is_training());
}

TEST_CASE("check_model names the shape a model does not accept", "[models]") {
  torch::manual_seed(4);
  TinyNet user;
  auto net = as_network(user);
  CHECK_NOTHROW(check_model(*net, {{1, 28, 28}, 10}, "TinyNet"));
  CHECK(net->is_training());  // restored
  CHECK_THROWS_WITH(check_model(*net, {{3, 32, 32}, 10}, "TinyNet"),
                    Contains("TinyNet does not accept images of shape 3x32x32"));
  CHECK_THROWS_WITH(check_model(*net, {{1, 28, 28}, 100}, "TinyNet"),
                    Contains("expected [2, 100] logits"));
  CHECK_THROWS_AS(as_network(std::shared_ptr<torch::nn::Module>(), [](const at::Tensor& x) { return x; }), Error);
}
