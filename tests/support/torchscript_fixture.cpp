#include "torchscript_fixture.h"

#include <torch/script.h>
#include <torch/torch.h>

namespace wmark::test {

void save_mnist_cnn_as_torchscript(Network& model, const std::filesystem::path& path) {
  torch::jit::Module module("StolenMnistCnn");
  for (const auto& item : model.named_parameters()) {
    std::string name = item.key();
    std::replace(name.begin(), name.end(), '.', '_');
    module.register_parameter(name, item.value().detach().contiguous().clone(), false);
  }
  // ReLU before pooling here (the textbook order); wmark's mnist_cnn pools first: same function.
  module.define(R"JIT(
def forward(self, x):
    x = torch.max_pool2d(torch.relu(torch.conv2d(x, self.conv1_weight, self.conv1_bias)), [2, 2])
    x = torch.max_pool2d(torch.relu(torch.conv2d(x, self.conv2_weight, self.conv2_bias)), [2, 2])
    x = torch.relu(torch.linear(torch.flatten(x, 1), self.fc1_weight, self.fc1_bias))
    return torch.linear(x, self.fc2_weight, self.fc2_bias)
)JIT");
  module.save(path.string());
}

}  // namespace wmark::test
