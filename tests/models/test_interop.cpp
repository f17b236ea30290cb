// Models between wmark and PyTorch (Debian's python3-torch): state dicts both ways,
// TorchScript export.
#include <catch2/catch.hpp>

#include <caffe2/serialize/inline_container.h>
#include <torch/serialize.h>
#include <torch/torch.h>

#include <fstream>
#include <iterator>
#include <map>
#include <sstream>

#include "../support/test_support.h"
#include "wmark/models/registry.h"
#include "wmark/models/load_network.h"
#include "wmark/models/module_adapter.h"
#include "wmark/models/state_dict.h"
#include "wmark/models/torchscript.h"
#include "wmark/util/error.h"

using namespace wmark;
using Catch::Matchers::Contains;

namespace {

const std::string kScript = std::string(WMARK_TEST_SOURCE_DIR) + "/tests/python/interop.py";

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

TEST_CASE("a state dict saved by PyTorch loads into the wmark architecture", "[models]") {
  test::TempDir dir;
  std::string out;
  REQUIRE(python("save " + (dir / "sd.pt").string() + " " + (dir / "logits.pt").string(), out) == 0);
  INFO(out);
  auto model = model_registry().create("mnist_cnn", {{1, 28, 28}, 10});
  load_state_dict(*model, dir / "sd.pt");
  model->eval();
  CHECK(torch::allclose(model->forward(probe()), load_tensor(dir / "logits.pt"), 1e-4, 1e-5));
  // Our own files read back the same way.
  auto copy = model_registry().create("mnist_cnn", {{1, 28, 28}, 10});
  save_state_dict(*model, dir / "ours.pt");
  load_state_dict(*copy, dir / "ours.pt");
  copy->eval();
  CHECK(torch::equal(copy->forward(probe()), model->forward(probe())));

  // Another architecture, a file that is not a state dict, damaged files: clear errors.
  auto other = model_registry().create("mnist_cnn", {{1, 28, 28}, 5});
  const auto before = other->named_parameters()["fc2.bias"].clone();
  CHECK_THROWS_WITH(load_state_dict(*other, dir / "sd.pt"),
                    Contains("does not match the model's architecture") && Contains("fc2.weight is [10, 256]"));
  CHECK(torch::equal(other->named_parameters()["fc2.bias"], before));  // left unchanged
  CHECK_THROWS_WITH(load_state_dict(*model, dir / "logits.pt"), Contains("does not hold a dict of tensors"));
  {
    std::ofstream junk(dir / "junk.pt");
    junk << "not a zip";
  }
  CHECK_THROWS_WITH(load_state_dict(*model, dir / "junk.pt"), Contains("junk.pt is not a file written by torch.save"));
  CHECK_THROWS_AS(load_state_dict(*model, dir / "absent.pt"), Error);
  // Every truncation of a real file is refused with an error, never a crash.
  std::ifstream in(dir / "sd.pt", std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  for (std::size_t cut : {bytes.size() / 2, bytes.size() - 30, std::size_t(100)}) {
    std::ofstream(dir / "cut.pt", std::ios::binary) << bytes.substr(0, cut);
    CHECK_THROWS_AS(load_state_dict(*model, dir / "cut.pt"), Error);
  }
}

TEST_CASE("damaged state dicts are refused with an error, never a crash", "[models]") {
  test::TempDir dir;
  std::string out;
  REQUIRE(python("save " + (dir / "sd.pt").string() + " " + (dir / "logits.pt").string(), out) == 0);
  // The records of a real file; data.pkl is then damaged and the archive rewritten.
  std::ifstream in(dir / "sd.pt", std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::istringstream stream(bytes);
  caffe2::serialize::PyTorchStreamReader reader(&stream);
  std::map<std::string, std::string> records;
  for (const auto& name : reader.getAllRecords()) {
    if (name == "version") continue;  // the writer adds its own
    auto [data, size] = reader.getRecord(name);
    records[name] = std::string(static_cast<const char*>(data.get()), size);
  }
  const auto pickle = records.at("data.pkl");
  auto write_with = [&](const std::string& damaged) {
    std::ofstream file(dir / "bad.pt", std::ios::binary);
    caffe2::serialize::PyTorchStreamWriter writer([&](const void* data, std::size_t n) {
      file.write(static_cast<const char*>(data), static_cast<std::streamsize>(n));
      return n;
    });
    for (const auto& [name, content] : records) {
      const auto& payload = name == "data.pkl" ? damaged : content;
      writer.writeRecord(name, payload.data(), payload.size());
    }
    writer.writeEndOfFile();
  };
  auto model = model_registry().create("mnist_cnn", {{1, 28, 28}, 10});
  std::int64_t refused = 0, tried = 0;
  // Truncations and single-byte changes all over the pickle (opcodes, lengths, memo
  // indices, sizes, strides): wmark::Error or a state dict that still fits, nothing else.
  for (std::size_t at = 0; at < pickle.size(); at += 5) {
    for (const auto& damaged : {pickle.substr(0, at), std::string(pickle).replace(at, 1, 1, '\xff'),
                                std::string(pickle).replace(at, 1, 1, '\x00')}) {
      write_with(damaged);
      ++tried;
      try {
        load_state_dict(*model, dir / "bad.pt");
      } catch (const Error&) {
        ++refused;
      }
    }
  }
  INFO(refused << " of " << tried << " damaged files refused");
  CHECK(refused > tried / 2);
}

TEST_CASE("every built-in architecture exports to TorchScript that computes the same logits", "[models]") {
  test::TempDir dir;
  for (const auto& [arch, shape] : std::vector<std::pair<std::string, ImageShape>>{
           {"mnist_cnn", {1, 28, 28}}, {"cifar_cnn", {3, 32, 32}}, {"resnet18", {3, 32, 32}}}) {
    INFO(arch);
    torch::manual_seed(5);
    auto model = model_registry().create(arch, {shape, 10});
    model->train();
    const auto path = dir / (arch + ".ts");
    save_torchscript(*model, shape, path);
    CHECK(model->is_training());  // restored
    CHECK_THROWS_WITH(save_torchscript(*model, shape, path), Contains("exists"));
    model->eval();
    auto x = torch::randn({3, shape.channels, shape.height, shape.width});  // another batch size than traced
    auto loaded = load_script_network(path, torch::kCPU);
    loaded->eval();
    CHECK(torch::allclose(loaded->forward(x), model->forward(x), 1e-4, 1e-5));
  }
}

TEST_CASE("PyTorch runs a wmark model exported to TorchScript", "[models]") {
  test::TempDir dir;
  torch::manual_seed(3);
  auto model = model_registry().create("mnist_cnn", {{1, 28, 28}, 10});
  save_torchscript(*model, {1, 28, 28}, dir / "m.ts");
  std::string out;
  REQUIRE(python("script " + (dir / "m.ts").string() + " " + (dir / "logits.pt").string(), out) == 0);
  INFO(out);
  model->eval();
  CHECK(torch::allclose(load_tensor(dir / "logits.pt"), model->forward(probe()).detach(), 1e-4, 1e-5));
}

TEST_CASE("load_network opens a checkpoint or a TorchScript file, and refuses what does not fit", "[models]") {
  using Catch::Contains;
  test::TempDir dir;
  const ModelSpec spec{{1, 28, 28}, 10};
  torch::manual_seed(3);
  auto model = model_registry().create("mnist_cnn", spec);
  CheckpointInfo info;
  info.arch = "mnist_cnn";
  info.spec = spec;
  info.dataset = "mnist";
  info.normalization = dataset_traits("mnist").normalization;
  save_checkpoint(dir / "m.pt", *model, info);
  save_torchscript(*model, spec.input, dir / "m.ts");
  const auto x = torch::rand({4, 1, 28, 28});
  model->eval();
  const auto expected = model->forward(x);

  const auto checkpoint = load_network(dir / "m.pt");
  REQUIRE(checkpoint.checkpoint);
  CHECK(checkpoint.arch == "mnist_cnn");
  CHECK(checkpoint.description == "checkpoint " + (dir / "m.pt").string() + " (mnist_cnn)");
  CHECK(torch::allclose(checkpoint.model->forward(x), expected, 1e-5, 1e-5));
  const auto script = load_network(dir / "m.ts", "", dataset_traits("mnist"));
  CHECK_FALSE(script.checkpoint);
  CHECK(script.arch == "torchscript");
  CHECK(script.spec.num_classes == 10);
  CHECK(torch::allclose(script.model->forward(x), expected, 1e-5, 1e-5));

  // What does not fit is refused, naming the file.
  CHECK_THROWS_WITH(load_network(dir / "m.pt", "cifar_cnn"), Contains("holds a 'mnist_cnn' model, not 'cifar_cnn'"));
  CHECK_THROWS_WITH(load_network(dir / "m.pt", "", dataset_traits("cifar10")),
                    Contains("m.pt was built for 1x28x28 inputs and 10 classes, not the 3x32x32 and 10 expected"));
  CHECK_THROWS_WITH(load_network(dir / "m.ts"), Contains("m.ts") && Contains("not a wmark checkpoint"));
  test::write_bytes(dir / "junk.pt", "not a model", true);
  CHECK_THROWS_WITH(load_network(dir / "junk.pt", "", dataset_traits("mnist")), Contains("junk.pt"));
  CHECK_THROWS_WITH(load_network(dir / "missing.pt"), Contains("missing.pt does not exist"));
}
