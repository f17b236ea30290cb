// Unit alignment (watermark/unit_alignment.h): matching a suspect's hidden units to the
// marked model's undoes permutation and scaling exactly, and the verifier's policy keeps
// a false accuser from using the alignment's freedom.
#include <catch2/catch.hpp>

#include <torch/torch.h>

#include <algorithm>
#include <numeric>

#include "../support/test_support.h"
#include "../support/watermarked_fixture.h"
#include "wmark/models/clone.h"
#include "wmark/attack/dummy_neurons.h"
#include "wmark/models/hidden_units.h"
#include "wmark/models/redundant_units.h"
#include "wmark/models/registry.h"
#include "wmark/util/error.h"
#include "wmark/util/linear_assignment.h"
#include "wmark/util/random.h"
#include "wmark/verify/verifier.h"
#include "wmark/watermark/unit_alignment.h"
#include "wmark/watermark/whitebox/uchida.h"

using namespace wmark;
using Catch::Matchers::Contains;

namespace {

double best_by_brute_force(const std::vector<double>& score, std::int64_t n) {
  std::vector<std::int64_t> p(n);
  std::iota(p.begin(), p.end(), 0);
  double best = -1e300;
  do {
    double total = 0;
    for (std::int64_t i = 0; i < n; ++i) total += score[i * n + p[i]];
    best = std::max(best, total);
  } while (std::next_permutation(p.begin(), p.end()));
  return best;
}

// Every parameter and buffer of `a` equals `b`'s within a relative 1e-4.
bool same_weights(Network& a, Network& b) {
  const auto pa = a.named_parameters(), pb = b.named_parameters();
  const auto ba = a.named_buffers(), bb = b.named_buffers();
  for (const auto& item : pa)
    if (item.value().sizes() != pb[item.key()].sizes() || !torch::allclose(item.value(), pb[item.key()], 1e-4, 1e-5))
      return false;
  for (const auto& item : ba)
    if (item.value().sizes() != bb[item.key()].sizes() ||
        (item.value().is_floating_point() && !torch::allclose(item.value(), bb[item.key()], 1e-4, 1e-5)))
      return false;
  return true;
}

NetworkPtr copy_of(Network& model, const std::string& arch, const ImageShape& shape) {
  return clone_network(model, [&] { return model_registry().create(arch, {shape, 10}); });
}

// Permutes and rescales (factors in [1/10, 10]) every hidden-unit layer, flips the signs
// of half the units under a batch norm, and permutes and rescales resnet18's residual
// streams, as the thief does.
void scramble(Network& model, std::uint64_t seed) {
  auto gen = make_generator(seed);
  for (const auto& layer : hidden_unit_layers(model)) {
    permute_units(model, layer, torch::randperm(layer.units, gen, torch::kLong));
    const auto log_factors = torch::rand({layer.units}, gen) * 2 - 1;
    scale_units(model, layer, torch::pow(10.0, log_factors));
    if (!layer.norm.empty()) flip_unit_signs(model, layer, torch::rand({layer.units}, gen) < 0.5);
  }
  for (const auto& stream : residual_streams(model)) {
    permute_stream(model, stream, torch::randperm(stream.units, gen, torch::kLong));
    scale_stream(model, stream, torch::pow(10.0, torch::rand({stream.units}, gen) * 2 - 1));
  }
}

}  // namespace

TEST_CASE("the assignment solver finds the pairing of highest total score", "[watermark][alignment]") {
  auto gen = make_generator(5);
  for (int trial = 0; trial < 20; ++trial) {
    const std::int64_t n = 2 + trial % 5;
    const auto m = torch::randn({n, n}, gen, torch::kDouble).contiguous();
    const std::vector<double> score(m.data_ptr<double>(), m.data_ptr<double>() + n * n);
    const auto column = max_score_assignment(score, n, n);
    std::vector<std::int64_t> sorted = column;
    std::sort(sorted.begin(), sorted.end());
    for (std::int64_t i = 0; i < n; ++i) CHECK(sorted[i] == i);  // a permutation
    double total = 0;
    for (std::int64_t i = 0; i < n; ++i) total += score[i * n + column[i]];
    CHECK(total == Approx(best_by_brute_force(score, n)));
  }
  // More columns than rows: the best columns are chosen; the other way round is refused.
  CHECK(max_score_assignment({0, 5, 1, 9, 0, 0}, 2, 3) == std::vector<std::int64_t>{1, 0});
  CHECK_THROWS_WITH(max_score_assignment({1, 2}, 2, 1), Contains("at most as many rows as columns"));
  CHECK_THROWS_WITH(max_score_assignment({1, NAN}, 1, 2), Contains("must be finite"));
}

TEST_CASE("alignment undoes permutation and scaling of every hidden layer, batch norms included", "[watermark][alignment]") {
  for (const std::string arch : {"mnist_cnn", "cifar_cnn", "resnet18"}) {
    const ImageShape shape = arch == "mnist_cnn" ? ImageShape{1, 28, 28} : ImageShape{3, 32, 32};
    torch::manual_seed(3);
    auto marked = model_registry().create(arch, {shape, 10});
    {  // running statistics other than the initial ones, so that scaling has to move them
      torch::NoGradGuard no_grad;
      for (auto& b : marked->named_buffers())
        if (b.key().find("running_var") != std::string::npos) b.value().uniform_(0.5, 2.0);
        else if (b.key().find("running_mean") != std::string::npos) b.value().normal_(0, 0.5);
    }
    marked->eval();
    WatermarkKey key;
    REQUIRE(record_unit_reference(*marked, key));
    CHECK(has_unit_reference(key));
    CHECK(key.tensors.count("unit-reference/" + hidden_unit_layers(*marked)[0].name + "/sketch"));

    for (std::uint64_t seed : {1, 2, 3}) {
      auto suspect = copy_of(*marked, arch, shape);
      scramble(*suspect, seed);
      REQUIRE_FALSE(same_weights(*suspect, *marked));
      const auto alignment = align_units(*suspect, key);
      INFO(arch << " seed " << seed << ": " << alignment.dump());
      REQUIRE(alignment.contains("layers"));
      for (const auto& layer : alignment["layers"]) {
        CHECK(layer["moved"].get<std::int64_t>() > 0);
        const auto name = layer["layer"].get<std::string>();
        const bool under_norm =
            (arch == "cifar_cnn" && name != "fc1") || (arch == "resnet18" && name.rfind("stream", 0) != 0);
        CHECK((layer["flipped"].get<std::int64_t>() > 0) == under_norm);
        CHECK(layer["lowest_similarity"].get<double>() > 0.999);
      }
      CHECK(same_weights(*suspect, *marked));  // every weight back, not only the function
    }
    // The marked model itself is left as it is.
    auto untouched = copy_of(*marked, arch, shape);
    const auto identity = align_units(*untouched, key);
    for (const auto& layer : identity["layers"]) CHECK(layer["moved"] == 0);
    CHECK(same_weights(*untouched, *marked));
  }
}

// Dummy neurons of every kind, shuffled in, then permutation and scaling: removing the
// redundant units and aligning gives back every weight of the marked model.
TEST_CASE("alignment removes dummy neurons, then undoes permutation and scaling", "[watermark][alignment]") {
  for (const std::string arch : {"mnist_cnn", "cifar_cnn"}) {
    const ImageShape shape = arch == "mnist_cnn" ? ImageShape{1, 28, 28} : ImageShape{3, 32, 32};
    torch::manual_seed(5);
    auto marked = model_registry().create(arch, {shape, 10});
    {
      torch::NoGradGuard no_grad;
      for (auto& b : marked->named_buffers())
        if (b.key().find("running_var") != std::string::npos) b.value().uniform_(0.5, 2.0);
    }
    marked->eval();
    WatermarkKey key;
    REQUIRE(record_unit_reference(*marked, key));
    for (const std::string variant : {"zero", "split", "clique", "mixed"}) {
      INFO(arch << " " << variant);
      AttackContext context;  // no images: the function is checked in tests/attack
      context.make_model = [&] { return model_registry().create(arch, {shape, 10}); };
      context.seed = 9;
      const auto widened =
          DummyNeuronsAttack(DummyNeuronsOptions().variant(variant).fraction(0.5)).run(*marked, context);
      scramble(*widened.model, 4);
      REQUIRE_FALSE(same_weights(*widened.model, *marked));
      const auto alignment = align_units(*widened.model, key);
      INFO(alignment.dump());
      REQUIRE(alignment.contains("layers"));
      for (std::size_t i = 0; i < alignment["layers"].size(); ++i) {
        const auto& layer = alignment["layers"][i];
        const auto& attacked = widened.details["layers"][i];
        CHECK(layer["folded"].get<std::int64_t>() + layer["dropped"].get<std::int64_t>() ==
              attacked["units_after"].get<std::int64_t>() - attacked["units_before"].get<std::int64_t>());
        CHECK(layer["lowest_similarity"].get<double>() > 0.999);
      }
      CHECK(same_weights(*widened.model, *marked));
    }
  }
  // Nothing is removed from a model that has no redundant units.
  torch::manual_seed(6);
  auto plain = model_registry().create("mnist_cnn", {{1, 28, 28}, 10});
  for (const auto& layer : hidden_unit_layers(*plain)) {
    const auto removed = remove_redundant_units(*plain, layer);
    CHECK(removed.folded + removed.dropped == 0);
  }
}

TEST_CASE("alignment says why it cannot apply, and refuses a malformed reference", "[watermark][alignment]") {
  torch::manual_seed(4);
  auto mnist = model_registry().create("mnist_cnn", {{1, 28, 28}, 10});
  auto cifar = model_registry().create("cifar_cnn", {{3, 32, 32}, 10});
  WatermarkKey key;
  REQUIRE(record_unit_reference(*mnist, key));
  // cifar_cnn has an fc1 of the same width, reading other inputs: not aligned to mnist's.
  CHECK_THAT(align_units(*cifar, key).at("skipped").get<std::string>(), Contains("layer fc1 reads"));
  auto other_names = key;
  for (const auto& name : {"sketch", "norm", "inputs"}) other_names.tensors.erase(std::string("unit-reference/fc1/") + name);
  CHECK_THAT(align_units(*cifar, other_names).at("skipped").get<std::string>(),
             Contains("names none of this model's layers"));
  auto narrower = key;
  narrower.tensors["unit-reference/conv1/sketch"] = torch::zeros({16, kUnitSketchSize});
  CHECK_THAT(align_units(*mnist, narrower).at("skipped").get<std::string>(),
             Contains("layer conv1 has 32 units after removing redundant ones, the reference 16"));
  auto broken = key;
  broken.tensors["unit-reference/conv1/norm"] = torch::full({32}, NAN);
  CHECK_THROWS_WITH(align_units(*mnist, broken), Contains("malformed unit reference") && Contains("conv1/norm"));

  // The signs under a batch norm and the residual streams are read from the key as well.
  WatermarkKey cifar_key;
  REQUIRE(record_unit_reference(*cifar, cifar_key));
  cifar_key.tensors["unit-reference/features.0/norm-sign"] = torch::ones({31});
  CHECK_THROWS_WITH(align_units(*cifar, cifar_key),
                    Contains("malformed unit reference") && Contains("features.0/norm-sign"));
  auto resnet = model_registry().create("resnet18", {{3, 32, 32}, 10});
  WatermarkKey resnet_key;
  REQUIRE(record_unit_reference(*resnet, resnet_key));
  REQUIRE(resnet_key.tensors.count("unit-reference/stream4/sketch"));
  resnet_key.tensors["unit-reference/stream1/sketch"] = torch::zeros({16, kUnitSketchSize});
  CHECK_THAT(align_units(*resnet, resnet_key).at("skipped").get<std::string>(),
             Contains("layer stream1 has 64 units, the reference 16"));
}

// A false accuser holding a key whose bits and projection derive from its secret, made
// after seeing an innocent model, chooses the unit reference: rescaling the model's conv1
// and conv2 units (the same function) until the projection gives the key's bits, and
// recording the rescaled copy as the reference. Aligned to it, the innocent model "carries"
// the bits. Taken at its word the forgery verifies; the verifier's policy refuses it, as it
// must: only a time stamp older than the model makes such a reference evidence.
TEST_CASE("a unit reference chosen after seeing a model forges an aligned reading; derivation refuses it",
          "[watermark][alignment]") {
  const auto innocent = test::clean_mnist();
  const auto before = test::snapshot(*innocent);
  auto forged = make_uchida_embedder(*innocent, test::mnist().test, UchidaOptions().layer("conv2").bits(32))->key();
  const auto& projection = forged.tensor("projection");
  const auto target = forged.tensor("bits").to(torch::kFloat) * 2 - 1;
  const auto w2 = innocent->named_parameters()["conv2.weight"].detach().clone();  // [64, 32, 5, 5]

  // Gradient descent on log-scales of conv2's filters (t) and conv1's units (s, which
  // divide conv2's input channels), within the attack's own range [1/100, 100].
  auto log_t = torch::zeros({64, 1, 1, 1}, torch::requires_grad());
  auto log_s = torch::zeros({1, 32, 1, 1}, torch::requires_grad());
  torch::optim::Adam adam({log_t, log_s}, torch::optim::AdamOptions(0.05));
  const auto scores_of = [&] {
    const auto kernel = (w2 * log_t.exp() / log_s.exp()).mean(0).flatten();
    return projection.matmul(kernel) / projection.matmul(w2.mean(0).flatten()).abs().mean();
  };
  for (int step = 0; step < 600; ++step) {
    adam.zero_grad();
    torch::relu(0.5 - target * scores_of()).sum().backward();
    adam.step();
    torch::NoGradGuard no_grad;
    log_t.clamp_(-4.6, 4.6);
    log_s.clamp_(-4.6, 4.6);
  }
  auto chosen = copy_of(*innocent, "mnist_cnn", {1, 28, 28});
  const auto layers = hidden_unit_layers(*chosen);
  scale_units(*chosen, layers[0], log_s.detach().exp().flatten());
  scale_units(*chosen, layers[1], log_t.detach().exp().flatten());
  REQUIRE(record_unit_reference(*chosen, forged));

  const auto accepted = Verifier().verify_white_box(*innocent, forged, "innocent");
  INFO(accepted.to_json().dump());
  CHECK(accepted.unit_alignment["decided_on"] == "aligned");
  CHECK(accepted.unit_alignment["plain_matches"].get<std::int64_t>() < 26);
  CHECK(accepted.verified);  // the forgery works on a verifier that takes keys at their word
  const auto required = Verifier(VerifierOptions().require_derivable_key(true)).verify_white_box(*innocent, forged);
  CHECK_FALSE(required.verified);
  CHECK_THAT(required.key_derivation, Contains("unit reference"));
  const auto flagged = Verifier(VerifierOptions().require_derivable_key(true).accept_unverifiable_keys(true))
                           .verify_white_box(*innocent, forged);
  CHECK(flagged.key_forgeable);
  // What makes an aligned decision count is the key's priority over the suspect (a time
  // stamp older than it, claim/priority.h): a key fixed before a model existed cannot have
  // been fitted to it. This forger's key is younger than the model, so it has none.
  const auto prior = Verifier(VerifierOptions().require_derivable_key(true).key_priority("stamped before the suspect"))
                         .verify_white_box(*innocent, forged);
  CHECK(prior.verified);
  CHECK_FALSE(prior.key_forgeable);
  CHECK(prior.unit_alignment["reference_priority"] == "stamped before the suspect");
  // The innocent model's weights are as they were: the aligned reading was put back.
  CHECK(test::same_as(*innocent, before));
}
