#include "watermarked_fixture.h"

#include <catch2/catch.hpp>
#include <torch/torch.h>

#include "test_support.h"
#include "wmark/data/subset.h"
#include "wmark/models/registry.h"
#include "wmark/train/trainer.h"
#include "wmark/verify/verifier.h"

namespace wmark::test {

const WatermarkedFixture& watermarked_mnist() {
  static const WatermarkedFixture fixture = [] {
    const auto& mnist = test::mnist();
    auto [test_rest, attacker] = split_holdout(balanced_subset(mnist.test, 3000, 2), 1000, 3);
    DatasetSplits splits{balanced_subset(mnist.train, 4000, 1), test_rest};
    const ModelSpec spec{splits.train.shape(), 10};
    torch::manual_seed(1);
    auto model = model_registry().create("mnist_cnn", spec);
    auto training = TrainerOptions().epochs(2).batch_size(64).optimizer("adam").lr(0.002).seed(1);
    auto options = TriggerWatermarkOptions().trigger("content");
    options.spec().size = 50;
    auto owner = std::make_shared<const Identity>(fixed_identity(7));
    options.spec().secret = experiment_secret(77, "test-fixture");
    options.spec().sources = mnist.train;  // the full public split: the key re-derives
    options.spec().secret.owner_public_key = owner->public_key();
    CheckpointInfo info{"mnist_cnn", spec, "mnist", splits.train.normalization, 0, nlohmann::json::object()};
    auto embedded = embed_trigger_watermark(model, splits, training, options, info);
    WatermarkedFixture f;
    f.model = model;
    f.key = embedded.key;
    f.owner = owner;
    f.test = splits.test;
    f.context = attack_context("mnist_cnn", attacker, 5);
    return f;
  }();
  return fixture;
}

nlohmann::json verified_report() {
  const auto& f = watermarked_mnist();
  ModuleClassifier suspect(f.model, f.key.normalization, "suspect.pt");
  // Through text, as `wmark claim` reads it (integers parse back unsigned).
  const auto strict = VerifierOptions().require_derivable_key(true).data_dir(shared_data());
  const auto report = nlohmann::json::parse(Verifier(strict).verify(suspect, f.key).to_json().dump());
  REQUIRE(report["key_derivation"] == "derived");
  REQUIRE(report["verified"] == true);
  return report;
}

NetworkPtr clean_mnist() {
  static const NetworkPtr model = [] {
    const auto& f = watermarked_mnist();
    torch::manual_seed(40);
    auto clean = model_registry().create("mnist_cnn", {{1, 28, 28}, 10});
    Trainer(clean, TrainerOptions().epochs(1).optimizer("adam").lr(0.002).seed(40)).fit(f.context.data);
    clean->eval();
    return clean;
  }();
  return model;
}

ServedModel served_mnist(NetworkPtr network, const std::string& name) {
  const auto& key = watermarked_mnist().key;
  ServedModel m;
  m.name = name;
  m.network = std::move(network);
  m.input = key.input_shape;
  m.num_classes = 10;
  m.normalization = key.normalization;
  return m;
}

AttackContext attack_context(const std::string& arch, const Dataset& data, std::uint64_t seed) {
  return registered_attack_context(arch, {data.shape(), data.num_classes}, data, seed);
}

std::vector<at::Tensor> snapshot(Network& model) {
  std::vector<at::Tensor> out;
  for (const auto& p : model.parameters()) out.push_back(p.detach().clone());
  for (const auto& b : model.buffers()) out.push_back(b.detach().clone());
  return out;
}

bool same_as(Network& model, const std::vector<at::Tensor>& snap) {
  auto now = snapshot(model);
  if (now.size() != snap.size()) return false;
  for (size_t i = 0; i < now.size(); ++i) {
    if (!torch::equal(now[i], snap[i])) return false;
  }
  return true;
}

}  // namespace wmark::test
