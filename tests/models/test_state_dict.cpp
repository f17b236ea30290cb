// State dicts from wmark to PyTorch (Debian's python3-torch).
#include <catch2/catch.hpp>

#include <torch/serialize.h>
#include <torch/torch.h>

#include <fstream>
#include <iterator>

#include "../support/test_support.h"
#include "wmark/models/registry.h"
#include "wmark/models/state_dict.h"
#include "wmark/util/error.h"

using namespace wmark;
using Catch::Matchers::Contains;

namespace {

const std::string kScript = std::string(WMARK_TEST_SOURCE_DIR) + "/tests/python/state_dict_roundtrip.py";

// The input tests/python/architectures.py feeds the model.
torch::Tensor probe() { return torch::linspace(-1.0, 1.0, 4 * 784).reshape({4, 1, 28, 28}); }

torch::Tensor load_tensor(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return torch::pickle_load(bytes).toTensor();
}

int python(const std::string& args, std::string& out) {
  return test::run_command("/usr/bin/python3 " + kScript + " " + args, out);
}

}  // namespace

TEST_CASE("a wmark model's state dict loads into the PyTorch twin and gives the same logits", "[models]") {
  test::TempDir dir;
  torch::manual_seed(3);
  auto model = model_registry().create("mnist_cnn", {{1, 28, 28}, 10});
  model->eval();
  const auto expected = model->forward(probe()).detach();
  save_state_dict(*model, dir / "sd.pt");
  CHECK_THROWS_WITH(save_state_dict(*model, dir / "sd.pt"), Contains("exists"));  // never overwritten unasked
  std::string out;
  REQUIRE(python("load " + (dir / "sd.pt").string() + " " + (dir / "logits.pt").string(), out) == 0);
  INFO(out);
  CHECK(torch::allclose(load_tensor(dir / "logits.pt"), expected, 1e-4, 1e-5));
}
