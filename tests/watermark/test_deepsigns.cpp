// DeepSigns: activation bits (whitebox/deepsigns.h) and output-layer keys (output_keys.h).
#include <catch2/catch.hpp>

#include <torch/script.h>
#include <torch/torch.h>

#include "../support/test_support.h"
#include "../support/watermarked_fixture.h"
#include "dummy_neurons_check.h"
#include "wmark/attack/neuron_permutation.h"
#include "wmark/attack/neuron_scaling.h"
#include "wmark/data/subset.h"
#include "wmark/models/checkpoint.h"
#include "wmark/models/module_adapter.h"
#include "wmark/models/registry.h"
#include "wmark/train/evaluate.h"
#include "wmark/train/trainer.h"
#include "wmark/util/error.h"
#include "wmark/verify/suspect.h"
#include "wmark/verify/verifier.h"
#include "wmark/watermark/unit_alignment.h"
#include "wmark/watermark/output_keys.h"
#include "wmark/watermark/whitebox/deepsigns.h"
#include "wmark/watermark/whitebox/uchida.h"

using namespace wmark;
using Catch::Matchers::Contains;

namespace {

struct DeepSignsFixture {
  NetworkPtr marked, clean;
  WatermarkKey key;
  double marked_accuracy = 0, clean_accuracy = 0;
  Dataset train, test;
};

// Two mnist_cnn with the same initialisation and data order, one with 64 bits in the
// activations of fc1 over key inputs of classes 3 and 7.
const DeepSignsFixture& deepsigns_fixture() {
  static const DeepSignsFixture f = [] {
    const auto& mnist = test::mnist();
    DeepSignsFixture out;
    out.train = balanced_subset(mnist.train, 3000, 5);
    out.test = balanced_subset(mnist.test, 1000, 5);
    const ModelSpec spec{out.train.shape(), 10};
    const auto options = TrainerOptions().epochs(2).batch_size(64).optimizer("adam").lr(0.002).seed(5);
    torch::manual_seed(9);
    out.marked = model_registry().create("mnist_cnn", spec);
    torch::manual_seed(9);
    out.clean = model_registry().create("mnist_cnn", spec);
    {
      auto embedder = make_deepsigns_embedder(
          out.marked, out.train, DeepSignsOptions().layer("fc1").target_classes({3, 7}).signature("DeepSigns").secret(experiment_secret(13, "test")),
          "mnist_cnn");
      Trainer trainer(out.marked, options);
      trainer.add_hook(embedder);
      out.marked_accuracy = trainer.fit(out.train, &out.test).test_accuracy;
      out.key = embedder->key();
    }
    out.clean_accuracy = Trainer(out.clean, options).fit(out.train, &out.test).test_accuracy;
    return out;
  }();
  return f;
}

// A TorchScript model with two submodules, as Python's torch.jit.script makes them.
torch::jit::Module script_with_children() {
  auto linear = [](const std::string& name, std::int64_t in, std::int64_t out) {
    torch::jit::Module m(name);
    m.register_attribute("training", c10::BoolType::get(), true);
    m.register_parameter("weight", torch::randn({out, in}) * 0.05, false);
    m.register_parameter("bias", torch::zeros({out}), false);
    m.define("def forward(self, x):\n    return torch.linear(x, self.weight, self.bias)\n");
    return m;
  };
  torch::manual_seed(4);
  torch::jit::Module net("ScriptNet");
  net.register_attribute("training", c10::BoolType::get(), true);
  net.register_module("fc1", linear("Fc1", 784, 32));
  net.register_module("fc2", linear("Fc2", 32, 10));
  net.define("def forward(self, x):\n    return self.fc2.forward(torch.relu(self.fc1.forward(torch.flatten(x, 1))))\n");
  return net;
}

}  // namespace

TEST_CASE("DeepSigns bits round trip: BER 0 on the marked model, ~0.5 and rejected on a clean one", "[watermark]") {
  const auto& f = deepsigns_fixture();
  Verifier verifier;
  const auto marked = verifier.verify_white_box(*f.marked, f.key, "marked");
  const auto clean = verifier.verify_white_box(*f.clean, f.key, "clean");
  INFO("marked BER " << marked.bit_error_rate << " clean BER " << clean.bit_error_rate << "; accuracy "
                     << f.marked_accuracy << " vs clean " << f.clean_accuracy);
  CHECK(marked.bit_error_rate == 0);
  CHECK(marked.verified);
  CHECK(marked.p_value < 1e-15);
  CHECK(clean.bit_error_rate > 0.25);
  CHECK(clean.bit_error_rate < 0.75);
  CHECK_FALSE(clean.verified);
  CHECK(torch::equal(extract_deepsigns_bits(*f.marked, f.key), text_bits("DeepSigns", 64)));
  // The two loss terms cost no accuracy worth the name (1000 test images: 1 point is 10).
  CHECK(f.marked_accuracy > f.clean_accuracy - 0.01);
  // verify_model() dispatches a white-box key to the same reading.
  CHECK(verifier.verify_model(*f.marked, f.key, "marked", torch::kCPU).bit_error_rate == 0);
}

TEST_CASE("DeepSigns keys name their layer and commit to A, b and the key inputs", "[watermark]") {
  const auto& f = deepsigns_fixture();
  CHECK(f.key.method == "deepsigns");
  CHECK_FALSE(f.key.black_box());
  CHECK(f.key.params.at("layer") == "fc1");
  CHECK(f.key.params.at("target_classes") == nlohmann::json({3, 7}));
  CHECK(f.key.tensor("projection").sizes() == torch::IntArrayRef({256, 64}));
  const auto& labels = f.key.tensor("labels");
  CHECK(labels.size(0) == 100);
  CHECK((labels.eq(3) | labels.eq(7)).all().item<bool>());
  const auto commitment = f.key.commitment();
  for (const auto* name : {"projection", "bits", "images"}) {
    auto tampered = f.key;
    auto t = tampered.tensors[name].clone();
    t.view(-1)[0] = t.view(-1)[0].item<double>() == 0 ? 1 : 0;
    tampered.tensors[name] = t;
    INFO(name);
    CHECK(tampered.commitment() != commitment);
  }
}

TEST_CASE("DeepSigns refuses unknown layers, wrong widths and bad classes with clear errors", "[watermark]") {
  const auto& f = deepsigns_fixture();
  torch::manual_seed(1);
  auto model = model_registry().create("mnist_cnn", {{1, 28, 28}, 10});
  CHECK_THROWS_WITH(make_deepsigns_embedder(model, f.train, DeepSignsOptions().layer("fc9")),
                    Contains("no activations of layer 'fc9'; its tapped layers: conv1, conv2, fc1, fc2"));
  CHECK_THROWS_WITH(make_deepsigns_embedder(model, f.train, DeepSignsOptions().target_classes({12})),
                    Contains("target class 12 is outside [0, 10)"));
  // A key for another layer width (another architecture) is refused, naming both widths.
  auto other = model_registry().create("mnist_cnn", {{1, 28, 28}, 10});
  auto wide = f.key;
  wide.params["layer"] = "conv2";
  CHECK_THROWS_WITH(extract_deepsigns_bits(*other, wide),
                    Contains("expects 256 activations of layer 'conv2' but the model's layer has 1024"));
  CHECK_THROWS_WITH(Verifier().verify_white_box(*other, WatermarkKey{}),
                    Contains("is not a registered watermark scheme"));
  // Without a tapped layer (a user's module) the error says how to expose one.
  auto user = as_network(torch::nn::Sequential(torch::nn::Flatten(), torch::nn::Linear(784, 10)));
  CHECK_THROWS_WITH(extract_deepsigns_bits(*user, f.key), Contains("calling tap() in forward()"));
  // The embedder's capture ends with it; a captured layer is kept per forward.
  {
    auto embedder = make_deepsigns_embedder(model, f.train, DeepSignsOptions().bits(8));
    CHECK_NOTHROW(model->captured("fc1"));
  }
  CHECK_THROWS_WITH(model->captured("fc1"), Contains("not captured"));
}

TEST_CASE("TorchScript models expose their direct submodules' activations", "[watermark]") {
  auto script = script_with_children();
  auto net = as_network(script);
  CHECK(net->tapped_layers() == std::vector<std::string>{"fc1", "fc2"});
  auto x = torch::randn({4, 1, 28, 28});
  const auto expected = script.attr("fc1").toModule().forward({x.flatten(1)}).toTensor();
  const auto plain = net->forward(x);
  ActivationCapture capture(*net, "fc1");
  const auto logits = net->forward(x);
  CHECK(torch::allclose(logits, plain));
  CHECK(torch::allclose(capture.flat(), expected));
  // Gradients flow through the captured activation into the script's own weights.
  capture.flat().pow(2).mean().backward();
  CHECK(script.attr("fc1").toModule().attr("weight").toTensor().grad().defined());
}

TEST_CASE("DeepSigns output-layer keys verify on the marked model and not on clean ones", "[watermark]") {
  const auto& f = deepsigns_fixture();
  // Start from a copy of the clean model: output keys fine-tune a trained model.
  torch::manual_seed(9);
  auto model = model_registry().create("mnist_cnn", {f.train.shape(), 10});
  {
    torch::NoGradGuard no_grad;
    auto source = f.clean->named_parameters();
    for (auto& p : model->named_parameters()) p.value().copy_(source[p.key()]);
  }
  const auto training = TrainerOptions().batch_size(64).optimizer("adam").lr(0.001).seed(6);
  const auto other_clean = test::watermarked_mnist().model;  // trained without these keys
  CheckpointInfo info;
  info.arch = "mnist_cnn";
  auto result = embed_output_keys(model, {f.train, f.test}, training,
                                  OutputKeyOptions().keys(40).min_keys(20).secret(experiment_secret(21, "test")), {other_clean}, info,
                                  /*pretrained=*/true);
  const auto& key = result.key;
  INFO("kept " << key.tensor("labels").size(0) << " keys; accuracy " << result.clean_accuracy_before << " -> "
               << result.clean_accuracy_after);
  CHECK(key.method == "deepsigns-output");
  // Bad options are refused before any training.
  CHECK_THROWS_WITH(embed_output_keys(model, {f.train, f.test}, training, OutputKeyOptions().source("photos"), {},
                                      info, true),
                    Contains("source must be 'noise' or 'perturbed'"));
  CHECK_THROWS_WITH(embed_output_keys(model, {f.train, f.test}, training, OutputKeyOptions().keys(10).min_keys(20),
                                      {}, info, true),
                    Contains("min_keys must be in [1, keys]"));
  CHECK(key.black_box());
  CHECK(key.tensor("labels").size(0) >= 20);
  CHECK(key.tensor("labels").size(0) <= 40);
  CHECK(result.clean_accuracy_after > result.clean_accuracy_before - 0.02);

  Verifier verifier;
  ModuleClassifier marked(model, key.normalization, "marked");
  const auto on_marked = verifier.verify(marked, key);
  CHECK(on_marked.verified);
  CHECK(on_marked.match_rate == 1.0);
  // The clean model it was fine-tuned from, its DeepSigns-marked twin and a clean model
  // trained independently (other seed, other data): none is claimed.
  torch::manual_seed(31);
  auto independent = model_registry().create("mnist_cnn", {f.train.shape(), 10});
  Trainer(independent, TrainerOptions().epochs(1).optimizer("adam").lr(0.002).seed(31))
      .fit(balanced_subset(test::mnist().train, 3000, 31));
  for (const auto& suspect : {f.clean, f.marked, independent}) {
    ModuleClassifier clean(suspect, key.normalization, "clean");
    const auto report = verifier.verify(clean, key);
    INFO("clean match rate " << report.match_rate);
    CHECK_FALSE(report.verified);
    CHECK(report.match_rate < 0.3);
  }
}

// DeepSigns reads its bits from fc1's mean activation, unit by unit: reordering the units
// loses them, and rescaling each unit by a factor in [1/4, 4] moves enough projections
// across zero that the claim fails. A key holding a unit reference of the marked model
// (as embed_watermark records it) has the units aligned back before the second reading:
// both attacks are undone, and the clean model of the same initialisation stays unclaimed.
TEST_CASE("DeepSigns loses its bits to neuron permutation and scaling, and alignment restores them", "[watermark]") {
  const auto& f = deepsigns_fixture();
  auto aligned_key = f.key;
  REQUIRE(record_unit_reference(*f.marked, aligned_key));
  const auto context = test::attack_context("mnist_cnn", f.test, 3);
  Verifier verifier;
  for (std::uint64_t seed : {1, 2, 3}) {
    auto c = context;
    c.seed = seed;
    for (const std::shared_ptr<Attack>& attack :
         {std::shared_ptr<Attack>(new NeuronPermutationAttack()),
          std::shared_ptr<Attack>(new NeuronScalingAttack(NeuronScalingOptions().max_scale(100)))}) {
      const auto attacked = attack->run(*f.marked, c);
      const auto report = verifier.verify_white_box(*attacked.model, f.key, "attacked");
      INFO(attack->name() << " seed " << seed << " BER " << report.bit_error_rate);
      CHECK(report.bit_error_rate > 0.1);
      CHECK_FALSE(report.verified);
      CHECK(attacked.details["max_logit_difference"].get<double>() < 1e-3);
      const auto aligned = verifier.verify_white_box(*attacked.model, aligned_key, "attacked");
      INFO(aligned.to_json().dump());
      CHECK(aligned.verified);
      CHECK(aligned.bit_error_rate == 0);
      CHECK(aligned.unit_alignment["decided_on"] == "aligned");
    }
  }
  test::check_dummy_neurons_undone(*f.marked, *f.clean, f.key, aligned_key, context);
  const auto clean = verifier.verify_white_box(*f.clean, aligned_key, "clean");
  INFO(clean.to_json().dump());
  CHECK_FALSE(clean.verified);
  CHECK(clean.unit_alignment["aligned_matches"].get<std::int64_t>() < 48);  // of 64 bits
}

// Aligning pairs any model's units with the marked model's most similar ones and gives
// them its scales: an innocent model of the same task then agrees with an activation key
// beyond 1/2 (results.md: 34-55 of 64 on MNIST). Calibrated on independent models, the
// aligned reading of the innocent model loses its apparent significance and a permuted
// stolen copy still verifies.
TEST_CASE("independent models calibrate the aligned reading: an innocent model loses, a stolen copy keeps it",
          "[watermark]") {
  const auto& f = deepsigns_fixture();
  auto aligned_key = f.key;
  REQUIRE(record_unit_reference(*f.marked, aligned_key));
  // A second key: the same bits with the clean twin's units as reference, so the
  // independent models below align, and agree, differently (calibrated from files below).
  auto twin_key = f.key;
  REQUIRE(record_unit_reference(*f.clean, twin_key));
  const Verifier at_half;
  // Two models trained apart from the DeepSigns pair: other initialisations, other data;
  // read in memory, and saved for the same measurement from files.
  std::vector<VerificationReport> independent, twin_readings;
  test::TempDir dir;
  std::vector<std::filesystem::path> files;
  for (const auto& model : {test::watermarked_mnist().model, test::clean_mnist()}) {
    independent.push_back(at_half.verify_white_box(*model, aligned_key, "independent"));
    twin_readings.push_back(at_half.verify_white_box(*model, twin_key, "independent"));
    files.push_back(dir / ("independent-" + std::to_string(files.size()) + ".pt"));
    save_checkpoint(files.back(), *model,
                    {"mnist_cnn", {f.train.shape(), 10}, "mnist", f.train.normalization, 0, nlohmann::json::object()});
  }
  const double rate = Verifier::aligned_chance_rate(independent);
  double most = 0;
  for (const auto& r : independent) {
    const auto agreeing = r.unit_alignment["aligned_matches"].get<std::int64_t>();
    most = std::max(most, std::max(agreeing, r.queries - agreeing) / 64.0);
  }
  INFO("aligned chance rate " << rate);
  CHECK(rate == Approx(std::max(most, 0.5)));
  CHECK(rate < 1.0);
  const Verifier calibrated(VerifierOptions().aligned_chance_rate(rate));

  // From files, for two keys at once (as `wmark verify --null-model` does): each key gets
  // the rate of its own readings.
  const double twin_rate = Verifier::aligned_chance_rate(twin_readings);
  INFO("the twin-referenced key's rate " << twin_rate);
  REQUIRE(twin_rate != Approx(rate));  // else a mix-up of the keys' readings would go unseen
  const auto from_files = measure_aligned_chance_rates(
      files, {{aligned_key, at_half, "deepsigns"}, {twin_key, at_half, "twin-referenced"}}, SuspectFileOptions());
  REQUIRE(from_files.size() == 2);
  CHECK(from_files[0] == Approx(rate));
  CHECK(from_files[1] == Approx(twin_rate));

  // The innocent model (the marked one's clean twin): a p-value no smaller than at 1/2.
  const auto innocent_at_half = at_half.verify_white_box(*f.clean, aligned_key, "clean");
  const auto innocent = calibrated.verify_white_box(*f.clean, aligned_key, "clean");
  INFO(innocent_at_half.to_json().dump() << "\n" << innocent.to_json().dump());
  CHECK_FALSE(innocent.verified);
  CHECK(innocent.unit_alignment["aligned_chance_rate"].get<double>() == Approx(rate));
  CHECK(innocent.unit_alignment["aligned_chance_rate_measured"] == true);
  CHECK(innocent_at_half.unit_alignment["aligned_chance_rate_measured"] == false);
  CHECK(innocent.log10_p_value >= innocent_at_half.log10_p_value - 1e-9);
  if (innocent.unit_alignment["decided_on"] == "aligned" && !innocent.bits_inverted) {
    CHECK(innocent.chance_rate == Approx(rate));
  }

  // A permuted copy of the marked model: every bit back once aligned, still claimed.
  auto context = test::attack_context("mnist_cnn", f.test, 3);
  context.seed = 7;
  const auto permuted = NeuronPermutationAttack().run(*f.marked, context);
  const auto stolen = calibrated.verify_white_box(*permuted.model, aligned_key, "permuted");
  INFO(stolen.to_json().dump());
  CHECK(stolen.verified);
  CHECK(stolen.unit_alignment["decided_on"] == "aligned");
  CHECK(stolen.chance_rate == Approx(rate));

  // The marked model cannot calibrate (it agrees with every bit), nor a reading without alignment.
  CHECK_THROWS_WITH(Verifier::aligned_chance_rate({at_half.verify_white_box(*f.marked, aligned_key, "the marked model")}),
                    Contains("the marked model agrees with every bit"));
  CHECK_THROWS_WITH(Verifier::aligned_chance_rate({at_half.verify_white_box(*f.clean, f.key, "a plain reading")}),
                    Contains("a plain reading has no aligned reading"));
  CHECK_THROWS_WITH(Verifier::aligned_chance_rate({}), Contains("at least one independent model"));
  CHECK_THROWS_WITH(Verifier(VerifierOptions().aligned_chance_rate(1.0)), Contains("aligned chance rate must be in"));
}
