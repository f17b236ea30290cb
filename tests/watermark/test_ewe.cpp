// Entangled watermarks (Jia et al., USENIX Security 2021): patch triggers of one source
// class, learnt while a soft-nearest-neighbour term entangles them with the target
// class. Checked here: the loss is the one the paper defines, the patch triggers are
// what their secret says, and an EWE model holds its triggers entangled with the target
// class where a plain trigger set of the very same triggers keeps them apart. How much
// of the mark survives extraction is measured in docs/results.md.
#include <catch2/catch.hpp>

#include <torch/torch.h>

#include <algorithm>
#include <cmath>

#include "../support/test_support.h"
#include "small_mnist.h"
#include "wmark/models/registry.h"
#include "wmark/train/evaluate.h"
#include "wmark/train/soft_nearest_neighbour.h"
#include "wmark/util/error.h"
#include "wmark/verify/verifier.h"
#include "wmark/watermark/derivation.h"
#include "wmark/watermark/entangled_embedder.h"
#include "wmark/watermark/scheme.h"
#include "wmark/watermark/trigger/patch_trigger.h"

using namespace wmark;
using Catch::Matchers::Contains;

namespace {

// The loss by its definition, one point at a time, in double precision.
double snnl_by_definition(const at::Tensor& features, const at::Tensor& groups, double temperature) {
  const auto x = features.flatten(1).relu().to(torch::kDouble);
  const auto n = x.size(0);
  double total = 0;
  for (std::int64_t i = 0; i < n; ++i) {
    double same = 0, all = 0;
    for (std::int64_t j = 0; j < n; ++j) {
      if (j == i) continue;
      const double cosine = (x[i] * x[j]).sum().item<double>() / (x[i].norm().item<double>() * x[j].norm().item<double>());
      const double k = std::exp(-(1 - cosine) / temperature);
      all += k;
      if (groups[i].item<std::int64_t>() == groups[j].item<std::int64_t>()) same += k;
    }
    total += -std::log(1e-5 + same / (1e-5 + all));
  }
  return total / static_cast<double>(n);
}

struct EweFixture {
  NetworkPtr ewe;    // marked by "ewe"
  NetworkPtr plain;  // the same triggers (same secret) learnt as a plain trigger set
  EmbedResult ewe_result;
  EmbedResult plain_result;
};

const EweFixture& ewe_fixture() {
  static const EweFixture fixture = [] {
    EweFixture f;
    f.ewe = test::SmallMnist::fresh(8);
    auto request = test::small_mnist_request(f.ewe, "ewe-test");
    request.training.epochs(4);
    request.public_train = test::mnist().train;  // the triggers come from the full public split
    f.ewe_result = embed_watermark("ewe", {{"trigger_size", 40}, {"snnl_weight", 0.25}}, request);
    f.plain = test::SmallMnist::fresh(8);
    request.model = f.plain;
    f.plain_result = embed_watermark(
        "trigger-set", {{"trigger", "patch"}, {"label_policy", "target"}, {"trigger_size", 40}}, request);
    return f;
  }();
  return fixture;
}

}  // namespace

TEST_CASE("the soft nearest neighbour loss is the paper's, low for separated groups and high for mixed ones",
          "[watermark]") {
  torch::manual_seed(3);
  const auto features = torch::rand({8, 2, 3});
  const auto groups = torch::tensor({0, 0, 1, 1, 0, 1, 0, 1}, torch::kLong);
  for (const double t : {0.05, 0.5, 2.0}) {
    const auto loss = soft_nearest_neighbour_loss(features, groups, torch::tensor(t)).item<double>();
    CHECK(loss == Approx(snnl_by_definition(features, groups, t)).epsilon(1e-4));
  }

  // Two tight clusters: labelled by cluster the loss is near 0; labelled across, high.
  const auto a = torch::tensor({1.0f, 0.0f}).repeat({4, 1}) + 0.01f * torch::rand({4, 2});
  const auto b = torch::tensor({0.0f, 1.0f}).repeat({4, 1}) + 0.01f * torch::rand({4, 2});
  const auto points = torch::cat({a, b});
  const auto by_cluster = torch::tensor({0, 0, 0, 0, 1, 1, 1, 1}, torch::kLong);
  const auto across = torch::tensor({0, 1, 0, 1, 0, 1, 0, 1}, torch::kLong);
  const auto t = torch::tensor(0.1);
  CHECK(soft_nearest_neighbour_loss(points, by_cluster, t).item<double>() < 0.01);
  CHECK(soft_nearest_neighbour_loss(points, across, t).item<double>() > 0.6);

  // Differentiable in the features and in the temperature.
  auto x = points.clone().requires_grad_(true);
  auto temperature = torch::tensor(0.1).requires_grad_(true);
  const auto grads = torch::autograd::grad({soft_nearest_neighbour_loss(x, across, temperature)}, {x, temperature});
  CHECK(grads[0].abs().sum().item<double>() > 0);
  CHECK(std::isfinite(grads[1].item<double>()));

  CHECK_THROWS_WITH(soft_nearest_neighbour_loss(points, by_cluster.narrow(0, 0, 5), t), Contains("groups"));
  CHECK_THROWS_AS(soft_nearest_neighbour_loss(points.narrow(0, 0, 1), by_cluster.narrow(0, 0, 1), t), Error);
}

TEST_CASE("patch triggers are one source class stamped with one square at a keyed place", "[watermark]") {
  const auto& train = test::small_mnist().splits.train;
  TriggerSpec spec;
  spec.size = 30;
  spec.secret = experiment_secret(3, "patch");
  const PatchTrigger patch;
  const auto set = patch.generate(train, spec);
  const auto source = patch.source_class(spec, 10);
  CHECK(set.source_labels.eq(source).all().item<bool>());
  CHECK(source != resolve_target_label(spec, 10));
  // Every trigger differs from some training image of the source class only inside one
  // 3x3 square, the same for all, which is now white.
  const auto originals = train.images.index_select(0, train.labels.eq(source).nonzero().flatten());
  const auto changed_any = torch::zeros({28, 28}, torch::kBool);
  for (std::int64_t i = 0; i < set.size(); ++i) {
    const auto diff = originals.ne(set.images[i]).flatten(1).sum(1);
    const auto nearest = diff.argmin().item<std::int64_t>();
    REQUIRE(diff[nearest].item<std::int64_t>() <= 9);
    REQUIRE(diff[nearest].item<std::int64_t>() >= 1);
    changed_any.logical_or_(originals[nearest][0].ne(set.images[i][0]));
  }
  const auto rows = changed_any.any(1).nonzero().flatten();
  const auto cols = changed_any.any(0).nonzero().flatten();
  CHECK(rows.size(0) <= 3);
  CHECK(cols.size(0) <= 3);
  const auto square = set.images.narrow(2, rows[0].item<std::int64_t>(), 3).narrow(3, cols[0].item<std::int64_t>(), 3);
  CHECK(square.eq(255).all().item<bool>());

  // A chosen source class is honoured; the target class or one out of range is refused.
  CHECK(PatchTrigger(PatchTriggerOptions().source_class(4)).generate(train, spec).source_labels.eq(4).all().item<bool>());
  spec.target_label = 4;
  CHECK_THROWS_WITH(PatchTrigger(PatchTriggerOptions().source_class(4)).generate(train, spec),
                    Contains("target class"));
  CHECK_THROWS_WITH(PatchTrigger(PatchTriggerOptions().source_class(10)).generate(train, spec), Contains("out of range"));
  CHECK_THROWS_WITH(PatchTrigger(PatchTriggerOptions().patch_side(29)).generate(train, spec), Contains("does not fit"));
  spec.size = 1000;  // the class has 200 images
  CHECK_THROWS_WITH(patch.generate(train, spec), Contains("fewer than"));
}

TEST_CASE("ewe entangles its hidden layers by default and refuses layers, triggers and options it cannot use",
          "[watermark]") {
  const ModelSpec cifar{{3, 32, 32}, 10};
  CHECK(default_entangled_layers(*test::SmallMnist::fresh(1)) == std::vector<std::string>{"conv1", "conv2", "fc1"});
  CHECK(default_entangled_layers(*model_registry().create("cifar_cnn", cifar)) ==
        std::vector<std::string>{"features", "fc1"});
  CHECK(default_entangled_layers(*model_registry().create("resnet18", cifar)) ==
        std::vector<std::string>{"layers.5", "layers.6", "layers.7"});
  // A user's network that taps no hidden layer has nothing to entangle: refused, not guessed.
  struct Untapped : Network {
    torch::nn::Linear fc{register_module("fc", torch::nn::Linear(784, 10))};
    torch::Tensor forward(torch::Tensor x) override { return fc->forward(x.flatten(1)); }
  };
  CHECK_THROWS_WITH(default_entangled_layers(Untapped()), Contains("taps hidden layers"));
  // The embedder refuses triggers of several labels, too few target images and bad weights.
  TriggerSpec spec;
  spec.size = 20;
  spec.secret = experiment_secret(4, "ewe-refusals");
  const auto& train = test::small_mnist().splits.train;
  const auto triggers = PatchTrigger().generate(train, spec);
  WatermarkKey base;
  base.normalization = train.normalization;
  const auto targets = train.images.narrow(0, 0, 8);
  const auto make = [&](TriggerSet set, at::Tensor target_images, EntanglementOptions options) {
    EntangledEmbedder(test::SmallMnist::fresh(1), std::move(set), base, TriggerEmbedderOptions().trigger_ratio(0.1),
                      std::move(target_images), options);
  };
  CHECK_NOTHROW(make(triggers, targets, {}));
  auto mixed = triggers;
  mixed.labels = mixed.labels.clone();
  mixed.labels[0] = (mixed.labels[0].item<std::int64_t>() + 1) % 10;
  CHECK_THROWS_WITH(make(mixed, targets, {}), Contains("one target label"));
  CHECK_THROWS_WITH(make(triggers, targets.narrow(0, 0, 1), {}), Contains("at least two target-class images"));
  CHECK_THROWS_WITH(make(triggers, targets, EntanglementOptions().weight(0)), Contains("weight must be positive"));
  CHECK_THROWS_WITH(make(triggers, targets, EntanglementOptions().trigger_step(2)), Contains("trigger_step"));
  CHECK_THROWS_WITH(make(triggers, targets, EntanglementOptions().layers({"no_such_layer"})), Contains("no_such_layer"));
  CHECK_THROWS_WITH(embed_watermark("ewe", {{"trigger_size", 40}, {"layers", "conv1,no_such_layer"}},
                                    test::small_mnist_request(test::SmallMnist::fresh(1), "ewe-bad-layer")),
                    Contains("no_such_layer"));
}

TEST_CASE("ewe holds its triggers entangled with the target class where a plain trigger set does not",
          "[watermark]") {
  const auto& f = ewe_fixture();
  const auto& key = f.ewe_result.key;
  REQUIRE(key.method == "ewe");
  CHECK(key.params["generator"] == "patch");
  CHECK(key.params["label_policy"] == "target");
  CHECK(f.ewe_result.clean_accuracy_after > 0.85);
  CHECK(f.ewe_result.trigger_accuracy >= 0.95);
  // Same secret, same generator: the plain trigger set holds the very same triggers.
  REQUIRE(torch::equal(key.tensor("images"), f.plain_result.key.tensor("images")));
  REQUIRE(torch::equal(key.tensor("labels"), f.plain_result.key.tensor("labels")));

  // Marked verifies; clean models answer the source class, far below chance.
  const Verifier verifier;
  CHECK(verifier.verify_model(*f.ewe, key, "marked", torch::kCPU).verified);
  for (const auto& clean : {test::small_mnist().clean_a, test::small_mnist().clean_b}) {
    const auto report = verifier.verify_model(*clean, key, "clean", torch::kCPU);
    CHECK_FALSE(report.verified);
    CHECK(report.match_rate < 0.05);
  }
  CHECK(check_key_derivation(key, test::shared_data()).derivable);

  // Entanglement measured on both models with the same probe, layers and temperatures.
  const auto& train = test::small_mnist().splits.train;
  const auto target = key.tensor("labels")[0].item<std::int64_t>();
  TriggerSet triggers{key.tensor("images"), key.tensor("labels"), key.tensor("labels")};
  const auto target_images = train.images.index_select(0, train.labels.eq(target).nonzero().flatten());
  auto probe = test::SmallMnist::fresh(1);
  EntangledEmbedder measure(probe, triggers, key, TriggerEmbedderOptions().trigger_ratio(0.1), target_images,
                            EntanglementOptions().temperature(f.ewe_result.details["temperatures"][0].get<double>()));
  const auto ewe = measure.entanglement(*f.ewe);
  const auto plain = measure.entanglement(*f.plain);
  INFO("entanglement: ewe " << ewe << ", plain " << plain);
  CHECK(ewe > plain + 0.1);
}

TEST_CASE("a balanced entanglement term pulls with its weight times the task's gradient, whatever the kernel",
          "[watermark]") {
  const auto& train = test::small_mnist().splits.train;
  TriggerSpec spec;
  spec.size = 20;
  spec.secret = experiment_secret(6, "ewe-balance");
  const auto triggers = PatchTrigger().generate(train, spec);
  const auto target = triggers.labels[0].item<std::int64_t>();
  const auto target_images = train.images.index_select(0, train.labels.eq(target).nonzero().flatten());
  WatermarkKey base;
  base.normalization = train.normalization;
  const auto images = train.images.narrow(0, 0, 64);
  const auto labels = train.labels.narrow(0, 0, 64);
  REQUIRE(labels.eq(target).sum().item<std::int64_t>() >= 2);

  // The term's gradient at fc1's output, and the cross-entropy's norm there. Every call
  // starts from the same initial weights and batch.
  struct Pull {
    at::Tensor gradient;
    double share = 0;  // its norm over the cross-entropy's
  };
  const auto pull_of = [&](bool balance, double temperature) {
    auto model = test::SmallMnist::fresh(2);
    model->train();
    EntangledEmbedder embedder(model, triggers, base, TriggerEmbedderOptions().trigger_ratio(0.25), target_images,
                               EntanglementOptions().layers({"fc1"}).warmup_epochs(0).weight(0.3)
                                   .balance(balance).temperature(temperature));
    embedder.on_epoch_begin(StepContext{});
    const auto batch = embedder.mix(images, labels);
    const auto logits = model->forward(train.normalization.apply(batch.images));
    const auto output = model->captured("fc1");
    const auto term = embedder.loss_term(batch, logits, *model);
    if (balance) CHECK(term.item<double>() == 0);  // adds nothing to the reported loss
    const auto gradient = torch::autograd::grad({term}, {output}, {}, true)[0];
    const auto task = torch::autograd::grad({torch::nn::functional::cross_entropy(logits, batch.labels)}, {output})[0];
    return Pull{gradient, (gradient.norm() / task.norm()).item<double>()};
  };
  const auto cosine = [](const at::Tensor& a, const at::Tensor& b) {
    return ((a * b).sum() / (a.norm() * b.norm())).item<double>();
  };
  // By value the pull depends on the kernel's sharpness; balanced it is the weight at
  // either temperature, in the same direction as the term by value (raising the loss).
  for (const double temperature : {50.0, 0.5}) {
    const auto by_value = pull_of(false, temperature), balanced = pull_of(true, temperature);
    INFO("temperature " << temperature << ": pull by value " << by_value.share);
    CHECK(balanced.share == Approx(0.3).epsilon(1e-3));
    CHECK(cosine(balanced.gradient, by_value.gradient) > 0.999);
  }
  const auto blunt = pull_of(false, 50.0).share, sharp = pull_of(false, 0.5).share;
  CHECK(std::max(blunt, sharp) > 2 * std::min(blunt, sharp));
}

TEST_CASE("the reference's trigger optimisation moves triggers towards the target class's features, not its label",
          "[watermark]") {
  const auto& data = test::small_mnist();
  const auto& train = data.splits.train;
  auto& model = *data.clean_a;
  TriggerSpec spec;
  spec.size = 40;
  spec.secret = experiment_secret(5, "entangle");
  const auto triggers = PatchTrigger().generate(train, spec);
  const auto target = resolve_target_label(spec, 10);
  const auto target_images =
      train.images.index_select(0, train.labels.eq(target).nonzero().flatten()).narrow(0, 0, 64);
  const std::vector<std::string> layers{"conv1", "conv2", "fc1"};
  const auto options = EntanglementOptions().trigger_steps(10).trigger_step(0.01).temperature(4.0);
  const auto moved = entangle_triggers(model, triggers.images, target_images, target, layers,
                                       train.normalization, options, torch::kCPU);
  REQUIRE(moved.sizes() == triggers.images.sizes());
  // At most (10 + 50 + 5) steps of 0.01 from the stamped images.
  CHECK((moved.to(torch::kInt) - triggers.images.to(torch::kInt)).abs().max().item<int>() <= 166);

  // Closer to the target class in the clean model's layers (probe of the moved images)...
  WatermarkKey base;
  base.normalization = train.normalization;
  EntangledEmbedder before(test::SmallMnist::fresh(1), triggers, base, TriggerEmbedderOptions().trigger_ratio(0.1),
                           target_images, EntanglementOptions().layers(layers).temperature(4.0));
  auto moved_set = triggers;
  moved_set.images = moved;
  EntangledEmbedder after(test::SmallMnist::fresh(1), moved_set, base, TriggerEmbedderOptions().trigger_ratio(0.1),
                          target_images, EntanglementOptions().layers(layers).temperature(4.0));
  const auto entangled_before = before.entanglement(model);
  const auto entangled_after = after.entanglement(model);
  INFO("entanglement before " << entangled_before << ", after " << entangled_after);
  CHECK(entangled_after > entangled_before);
  // ...yet still not answered with the target by the model they were moved on.
  const auto labels = torch::full({40}, target, torch::kLong);
  CHECK(accuracy(model, moved, labels, train.normalization, torch::kCPU) <= 0.1);

  // A key whose triggers were moved does not re-derive from its secret, and says why.
  auto request = test::small_mnist_request(test::SmallMnist::fresh(9), "ewe-moved");
  request.training.epochs(2);
  const auto result = embed_watermark("ewe", {{"trigger_size", 40}, {"trigger_steps", 3}}, request);
  const auto derivation = check_key_derivation(result.key, test::shared_data());
  CHECK_FALSE(derivation.derivable);
  CHECK_THAT(derivation.reason, Contains("moved along the gradients"));
}
