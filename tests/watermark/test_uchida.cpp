#include <catch2/catch.hpp>

#include <torch/torch.h>

#include "../support/test_support.h"
#include "../support/watermarked_fixture.h"
#include "dummy_neurons_check.h"
#include "wmark/attack/neuron_permutation.h"
#include "wmark/attack/neuron_scaling.h"
#include "wmark/attack/weight_shifting.h"
#include "wmark/data/readers.h"
#include "wmark/data/subset.h"
#include "wmark/models/clone.h"
#include "wmark/models/module_adapter.h"
#include "wmark/models/registry.h"
#include "wmark/models/torchscript.h"
#include "wmark/train/trainer.h"
#include "wmark/util/error.h"
#include "wmark/verify/suspect.h"
#include "wmark/verify/verifier.h"
#include "wmark/watermark/unit_alignment.h"
#include "wmark/watermark/whitebox/uchida.h"

using namespace wmark;
using Catch::Matchers::Contains;

namespace {

struct UchidaFixture {
  NetworkPtr marked, clean;
  WatermarkKey key;
  double marked_accuracy = 0, clean_accuracy = 0;
};

// Two mnist_cnn with the same initialisation and data order, one with 64 bits in conv2.
const UchidaFixture& uchida_fixture() {
  static const UchidaFixture f = [] {
    const auto& mnist = test::mnist();
    auto train = balanced_subset(mnist.train, 3000, 4);
    auto test = balanced_subset(mnist.test, 1000, 4);
    const ModelSpec spec{train.shape(), 10};
    const auto options = TrainerOptions().epochs(2).batch_size(64).optimizer("adam").lr(0.002).seed(4);
    UchidaFixture out;
    torch::manual_seed(8);
    out.marked = model_registry().create("mnist_cnn", spec);
    torch::manual_seed(8);
    out.clean = model_registry().create("mnist_cnn", spec);
    auto embedder = make_uchida_embedder(*out.marked, train, UchidaOptions().layer("conv2").bits(64).signature("wmark!").secret(experiment_secret(12, "test")),
                                         "mnist_cnn");
    Trainer marked_trainer(out.marked, options);
    marked_trainer.add_hook(embedder);
    out.marked_accuracy = marked_trainer.fit(train, &test).test_accuracy;
    out.clean_accuracy = Trainer(out.clean, options).fit(train, &test).test_accuracy;
    out.key = embedder->key();
    return out;
  }();
  return f;
}

}  // namespace

TEST_CASE("Uchida bits round trip: BER 0 on the marked model, ~0.5 and rejected on a clean one", "[watermark]") {
  const auto& f = uchida_fixture();
  Verifier verifier;
  const auto marked = verifier.verify_white_box(*f.marked, f.key, "marked");
  const auto clean = verifier.verify_white_box(*f.clean, f.key, "clean");
  INFO("marked BER " << marked.bit_error_rate << " clean BER " << clean.bit_error_rate);
  CHECK(marked.bit_error_rate == 0);
  CHECK(marked.verified);
  CHECK(marked.p_value < 1e-15);  // 64 of 64 bits at 1/2
  CHECK(clean.bit_error_rate > 0.25);
  CHECK(clean.bit_error_rate < 0.75);
  CHECK_FALSE(clean.verified);
  CHECK(marked.to_json().at("bit_error_rate") == 0.0);
  // The signature's bits are what was embedded.
  CHECK(torch::equal(extract_uchida_bits(*f.marked, f.key), text_bits("wmark!", 64)));
  // The regulariser costs no accuracy worth the name.
  CHECK(f.marked_accuracy > f.clean_accuracy - 0.02);
}

// Weight shifting (the toolbox's removal attack aimed at Uchida) subtracts 1.5 mean
// filters from every filter: the mean kernel Uchida projects becomes -0.5 of itself and
// every bit turns into its complement. The verifier reads the complement too, so the thief
// gains nothing by the shift alone, and a clean model stays unclaimed both ways.
TEST_CASE("weight shifting inverts Uchida's bits; the complement reading claims them, never a clean model",
          "[watermark]") {
  const auto& f = uchida_fixture();
  Verifier verifier;
  auto shifted = clone_network(*f.marked, [] { return model_registry().create("mnist_cnn", {{1, 28, 28}, 10}); });
  shift_convolution_weights(*shifted, /*shift=*/1.5, /*noise=*/0.0, /*seed=*/1);
  const auto read = verifier.verify_white_box(*shifted, f.key, "shifted");
  INFO(read.to_json().dump());
  CHECK(read.bit_error_rate == 1);
  CHECK(read.bits_inverted);
  CHECK(read.matches == 64);
  CHECK(read.verified);
  CHECK(read.to_json().at("bits_inverted") == true);
  CHECK(read.p_threshold == Approx(VerifierOptions().p_threshold() / 2));  // the bits and their complement
  CHECK_THAT(read.summary(), Contains("64/64 bits inverted matched"));

  // Shifting by exactly one mean filter zeroes the mean: no reading is left to claim.
  auto zeroed = clone_network(*f.marked, [] { return model_registry().create("mnist_cnn", {{1, 28, 28}, 10}); });
  shift_convolution_weights(*zeroed, /*shift=*/1.0, /*noise=*/0.0, /*seed=*/1);
  CHECK_FALSE(verifier.verify_white_box(*zeroed, f.key, "zeroed").verified);

  const auto clean = verifier.verify_white_box(*f.clean, f.key, "clean");
  INFO(clean.to_json().dump());
  CHECK_FALSE(clean.verified);
  CHECK(clean.matches >= 32);  // the better of the bits and their complement
  CHECK(clean.bit_error_rate == Approx(clean.bits_inverted ? clean.match_rate : 1 - clean.match_rate));
}

TEST_CASE("Uchida keys name their layer and commit to X and b", "[watermark]") {
  const auto& f = uchida_fixture();
  CHECK(f.key.method == "uchida");
  CHECK(f.key.params.at("layer") == "conv2.weight");
  CHECK(f.key.tensor("projection").sizes() == torch::IntArrayRef({64, 32 * 5 * 5}));
  const auto commitment = f.key.commitment();
  auto tampered = f.key;
  tampered.tensors["bits"] = tampered.tensors["bits"].clone();
  tampered.tensors["bits"][0] = 1 - tampered.tensors["bits"][0].item<int>();
  CHECK(tampered.commitment() != commitment);
  auto other_x = f.key;
  other_x.tensors["projection"] = other_x.tensors["projection"] * 2;
  CHECK(other_x.commitment() != commitment);

  // A missing layer lists the ones there are; another architecture's layer shape is refused.
  torch::manual_seed(1);
  auto model = model_registry().create("mnist_cnn", {{1, 28, 28}, 10});
  CHECK_THROWS_WITH(make_uchida_embedder(*model, test::mnist().test, UchidaOptions().layer("conv9")),
                    Contains("no convolution 'conv9'; its convolution weights: conv1.weight, conv2.weight"));
  auto mismatched = f.key;
  mismatched.tensors["projection"] = torch::zeros({64, 100});
  CHECK_THROWS_WITH(extract_uchida_bits(*model, mismatched),
                    Contains("projection is [64, 100] but layer 'conv2.weight' has 800 weights per filter"));
  CHECK_THROWS_WITH(Verifier().verify_white_box(*model, WatermarkKey{}),
                    Contains("is not a registered watermark scheme"));

  // A user's own module names its layer the same way (the adapter's prefix is optional).
  auto user = torch::nn::Sequential(torch::nn::Conv2d(torch::nn::Conv2dOptions(1, 8, 3)), torch::nn::Flatten(),
                                    torch::nn::Linear(8 * 26 * 26, 10));
  auto net = as_network(user);
  CHECK(resolve_conv_weight(*net, "0") == "module.0.weight");
  CHECK_NOTHROW(make_uchida_embedder(*net, test::mnist().test, UchidaOptions().layer("0").bits(16)));
}

// The thief's attacks that need no data: the same function, other weights. Uchida reads
// its bits from conv2's kernel averaged over its filters, in the order of conv2's input
// channels, i.e. of conv1's units: reordering them loses the bits; positive rescaling
// within [1/4, 4] does not flip a projection's sign. A key holding a unit reference of the
// marked model has the units aligned back before a second reading, which undoes both.
TEST_CASE("Uchida loses its bits to neuron permutation, keeps them through scaling, and alignment restores them",
          "[watermark]") {
  const auto& f = uchida_fixture();
  auto aligned_key = f.key;
  REQUIRE(record_unit_reference(*f.marked, aligned_key));
  const auto context = test::attack_context("mnist_cnn", balanced_subset(test::mnist().test, 256, 6), 3);
  Verifier verifier;
  for (std::uint64_t seed : {1, 2, 3}) {
    auto c = context;
    c.seed = seed;
    const auto permuted = NeuronPermutationAttack().run(*f.marked, c);
    const auto after_permutation = verifier.verify_white_box(*permuted.model, f.key, "permuted");
    INFO("seed " << seed << " BER after permutation " << after_permutation.bit_error_rate);
    CHECK(after_permutation.bit_error_rate > 0.3);
    CHECK_FALSE(after_permutation.verified);
    const auto scaled = NeuronScalingAttack().run(*f.marked, c);
    CHECK(verifier.verify_white_box(*scaled.model, f.key, "scaled").verified);
    CHECK(permuted.details["max_logit_difference"].get<double>() < 1e-3);
    CHECK(scaled.details["max_logit_difference"].get<double>() < 1e-3);

    const auto aligned = verifier.verify_white_box(*permuted.model, aligned_key, "permuted");
    CHECK(aligned.verified);
    CHECK(aligned.bit_error_rate == 0);
    CHECK(aligned.unit_alignment["decided_on"] == "aligned");
    CHECK(aligned.unit_alignment["layers"][0]["moved"].get<std::int64_t>() > 0);
    // An unattacked model is decided on its plain reading, as before.
    const auto own = verifier.verify_white_box(*f.marked, aligned_key, "marked");
    CHECK(own.verified);
    CHECK(own.unit_alignment["decided_on"] == "plain");
    // Four readings share the threshold: plain and aligned, each also inverted.
    CHECK(own.p_threshold == Approx(VerifierOptions().p_threshold() / 4));
    CHECK_FALSE(own.bits_inverted);
  }
  test::check_dummy_neurons_undone(*f.marked, *f.clean, f.key, aligned_key, context);
  const auto clean = verifier.verify_white_box(*f.clean, aligned_key, "clean");
  INFO(clean.to_json().dump());
  CHECK_FALSE(clean.verified);
  CHECK(clean.unit_alignment["aligned_matches"].get<std::int64_t>() < 48);  // of 64 bits
}

namespace {

// A cifar_cnn with 64 Uchida bits in its largest convolution, trained briefly on 2,000
// real CIFAR-10 images: every convolution of cifar_cnn is followed by a batch norm.
struct UchidaCifar {
  NetworkPtr marked;
  WatermarkKey key;
  Dataset test;
};

const UchidaCifar& uchida_cifar_fixture() {
  static const UchidaCifar f = [] {
    const Normalization cifar_norm{{0.4914, 0.4822, 0.4465}, {0.247, 0.243, 0.261}};
    auto train = read_cifar10({test::shared_data() / "cifar-10-batches-bin" / "data_batch_1.bin.gz"});
    train.normalization = cifar_norm;
    auto test = read_cifar10({test::shared_data() / "cifar-10-batches-bin" / "test_batch.bin.gz"});
    test.normalization = cifar_norm;
    UchidaCifar out;
    train = balanced_subset(train, 2000, 5);
    out.test = balanced_subset(test, 256, 5);
    torch::manual_seed(9);
    out.marked = model_registry().create("cifar_cnn", {train.shape(), 10});
    auto embedder = make_uchida_embedder(*out.marked, train,
                                         UchidaOptions().bits(64).secret(experiment_secret(13, "test")), "cifar_cnn");
    Trainer trainer(out.marked, TrainerOptions().epochs(2).batch_size(64).optimizer("adam").lr(0.002).seed(5));
    trainer.add_hook(embedder);
    trainer.fit(train);
    out.key = embedder->key();
    return out;
  }();
  return f;
}

}  // namespace

// Under a batch norm a unit's sign is free: negating its kernel row, the norm's running
// mean and weight keeps the function. Uchida reads the signs of projections of the
// layer's kernel averaged over its units, so flipping every unit inverts the code and
// flipping half scrambles it, at no cost. The unit reference records the norm weights'
// signs, and alignment gives each unit its sign back before the second reading.
TEST_CASE("Uchida on a batch-normed layer: sign flips invert or scramble the bits, alignment restores them",
          "[watermark]") {
  const auto& f = uchida_cifar_fixture();
  Verifier verifier;
  REQUIRE(verifier.verify_white_box(*f.marked, f.key, "marked").bit_error_rate == 0);
  auto aligned_key = f.key;
  REQUIRE(record_unit_reference(*f.marked, aligned_key));
  const auto context = test::attack_context("cifar_cnn", f.test, 4);

  // Every unit flipped, no rescaling: each projection changes sign exactly.
  const auto inverted = NeuronScalingAttack(NeuronScalingOptions().max_scale(1).flip_rate(1)).run(*f.marked, context);
  CHECK(inverted.details["max_logit_difference"].get<double>() < 1e-3);
  const auto inverted_read = verifier.verify_white_box(*inverted.model, f.key, "inverted");
  CHECK(inverted_read.bit_error_rate == 1);
  CHECK(inverted_read.bits_inverted);  // the complement reading claims it without the reference
  CHECK(inverted_read.verified);

  for (std::uint64_t seed : {1, 2, 3}) {
    auto c = context;
    c.seed = seed;
    const auto flipped = NeuronScalingAttack().run(*f.marked, c);  // half the units flipped, rescaled
    CHECK(flipped.details["max_logit_difference"].get<double>() < 1e-3);
    const auto plain = verifier.verify_white_box(*flipped.model, f.key, "flipped");
    INFO("seed " << seed << " BER " << plain.bit_error_rate);
    CHECK(plain.bit_error_rate > 0.2);
    CHECK_FALSE(plain.verified);
    const auto aligned = verifier.verify_white_box(*flipped.model, aligned_key, "flipped");
    CHECK(aligned.verified);
    CHECK(aligned.bit_error_rate == 0);
    CHECK(aligned.unit_alignment["decided_on"] == "aligned");
    std::int64_t restored = 0;
    for (const auto& layer : aligned.unit_alignment["layers"]) restored += layer["flipped"].get<std::int64_t>();
    std::int64_t attacked = 0;
    for (const auto& layer : flipped.details["layers"]) attacked += layer["flipped"].get<std::int64_t>();
    CHECK(restored == attacked);
  }
  // An unrelated cifar_cnn stays unclaimed through the same alignment.
  torch::manual_seed(21);
  auto other = model_registry().create("cifar_cnn", {f.test.shape(), 10});
  const auto unrelated = verifier.verify_white_box(*other, aligned_key, "unrelated");
  INFO(unrelated.to_json().dump());
  CHECK_FALSE(unrelated.verified);
}

// The thief permutes the marked model's units and ships it as TorchScript, whose
// structure wmark does not know: the suspect's tensors are rebuilt as the key's
// architecture (checked to compute the same), aligned and read; the clean twin, shipped
// the same way, stays unclaimed.
TEST_CASE("a permuted Uchida model exported to TorchScript is rebuilt, aligned and claimed", "[watermark]") {
  const auto& f = uchida_fixture();
  auto aligned_key = f.key;
  REQUIRE(record_unit_reference(*f.marked, aligned_key));
  REQUIRE(aligned_key.params.value("arch", std::string()) == "mnist_cnn");
  const auto context = test::attack_context("mnist_cnn", balanced_subset(test::mnist().test, 256, 6), 2);
  const auto permuted = NeuronPermutationAttack().run(*f.marked, context);
  test::TempDir dir;
  save_torchscript(*permuted.model, f.key.input_shape, dir / "permuted.ts");
  save_torchscript(*f.clean, f.key.input_shape, dir / "clean.ts");
  Verifier verifier;
  const auto options = SuspectFileOptions().sandbox(false);  // white-box keys read TorchScript in process

  const auto stolen = verify_suspect_file(dir / "permuted.ts", aligned_key, verifier, options).report;
  INFO(stolen.to_json().dump());
  CHECK(stolen.verified);
  CHECK(stolen.bit_error_rate == 0);
  CHECK(stolen.unit_alignment["decided_on"] == "aligned");
  CHECK(stolen.unit_alignment["rebuilt_as"]["arch"] == "mnist_cnn");
  CHECK(stolen.unit_alignment["rebuilt_as"]["max_logit_difference"].get<double>() < 1e-4);
  CHECK(stolen.unit_alignment["plain_matches"].get<std::int64_t>() < 48);  // as it is: lost
  // Without a reference there is nothing to align to: the plain reading alone, lost.
  CHECK_FALSE(verify_suspect_file(dir / "permuted.ts", f.key, verifier, options).report.verified);

  const auto clean = verify_suspect_file(dir / "clean.ts", aligned_key, verifier, options).report;
  INFO(clean.to_json().dump());
  CHECK_FALSE(clean.verified);
  CHECK(clean.unit_alignment["rebuilt_as"]["arch"] == "mnist_cnn");
}
