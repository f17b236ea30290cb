#include <catch2/catch.hpp>

#include <torch/torch.h>

#include <cmath>

#include "../support/test_support.h"
#include "../support/watermarked_fixture.h"
#include "wmark/attack/fine_pruning.h"
#include "wmark/attack/finetune.h"
#include "wmark/attack/inversion.h"
#include "wmark/attack/overwrite.h"
#include "wmark/attack/prune.h"
#include "wmark/attack/weight_quantization.h"
#include "wmark/eval/attack_report.h"
#include "wmark/models/clone.h"
#include "wmark/models/parameters.h"
#include "wmark/verify/statistics.h"
#include "wmark/models/registry.h"
#include "wmark/train/evaluate.h"
#include "wmark/util/error.h"

using namespace wmark;
using Catch::Matchers::Contains;

namespace {

std::int64_t zeros_in(Network& model, const std::vector<std::string>& names) {
  auto params = model.named_parameters();
  std::int64_t zeros = 0;
  for (const auto& n : names) zeros += params[n].eq(0).sum().item<std::int64_t>();
  return zeros;
}

}  // namespace

TEST_CASE("magnitude pruning zeroes exactly the requested fraction of weights", "[attack]") {
  const auto& f = test::watermarked_mnist();
  for (const std::string scope : {"global", "layer"}) {
    for (double rate : {0.0, 0.3, 0.9}) {
      auto model = clone_network(*f.model, f.context.make_model);
      const auto names = prunable_weights(*model);
      REQUIRE(names.size() == 4);  // conv1, conv2, fc1, fc2 weights; biases untouched
      auto params = model->named_parameters();
      std::int64_t expected = 0, total = 0;
      for (const auto& n : names) {
        const auto numel = params[n].numel();
        total += numel;
        if (scope == "layer") expected += static_cast<std::int64_t>(std::floor(rate * numel));
      }
      if (scope == "global") expected = static_cast<std::int64_t>(std::floor(rate * total));
      auto mask = prune_by_magnitude(*model, rate, scope);
      CHECK(zeros_in(*model, names) == expected);
      // What was pruned is the smallest: every kept weight is at least every pruned one.
      if (rate > 0 && scope == "global") {
        double max_pruned = 0, min_kept = 1e9;
        auto original = f.model->named_parameters();
        for (size_t i = 0; i < names.size(); ++i) {
          auto magnitude = original[names[i]].abs();
          auto pruned = magnitude.masked_select(mask.keep[i].logical_not());
          auto kept = magnitude.masked_select(mask.keep[i]);
          if (pruned.numel()) max_pruned = std::max(max_pruned, pruned.max().item<double>());
          if (kept.numel()) min_kept = std::min(min_kept, kept.min().item<double>());
        }
        CHECK(max_pruned <= min_kept);
      }
    }
  }
  auto model = clone_network(*f.model, f.context.make_model);
  CHECK_THROWS_WITH(prune_by_magnitude(*model, 0.97, "global"), Contains("rate must be in [0, 0.95]"));
  CHECK_THROWS_WITH(prune_by_magnitude(*model, 0.5, "row"), Contains("scope must be"));
}

TEST_CASE("pruning with fine-tuning keeps the pruned weights at zero", "[attack]") {
  const auto& f = test::watermarked_mnist();
  const auto before = test::snapshot(*f.model);
  auto result = PruneAttack(PruneOptions().rate(0.6).finetune_epochs(1)).run(*f.model, f.context);
  CHECK(test::same_as(*f.model, before));
  CHECK(result.details.at("sparsity").get<double>() >= 0.6 - 1e-4);  // floor(0.6 n) of n
  CHECK(accuracy(*result.model, f.test, torch::kCPU) > 0.8);
}

TEST_CASE("fine-tuning changes the weights of a copy and leaves the victim alone", "[attack]") {
  const auto& f = test::watermarked_mnist();
  const auto before = test::snapshot(*f.model);
  auto result = FinetuneAttack(FinetuneOptions().epochs(1).lr(0.01)).run(*f.model, f.context);
  CHECK(test::same_as(*f.model, before));
  CHECK_FALSE(test::same_as(*result.model, before));
  CHECK(accuracy(*result.model, f.test, torch::kCPU) > 0.85);

  // RTLL: only the re-initialised output layer changes.
  auto last = FinetuneAttack(FinetuneOptions().epochs(1).reinit_last_layer(true).train_layers("last"))
                  .run(*f.model, f.context);
  CHECK(last.details.at("output_layer") == "fc2.weight");
  auto victim_params = f.model->named_parameters();
  for (const auto& item : last.model->named_parameters()) {
    const bool output = item.key().rfind("fc2.", 0) == 0;
    CHECK(torch::equal(item.value(), victim_params[item.key()]) != output);
  }
}

TEST_CASE("model inversion produces images of the model's shape whose class score rises", "[attack]") {
  const auto& f = test::watermarked_mnist();
  auto result = InversionAttack(InversionOptions().steps(60)).run(*f.model, f.context);
  REQUIRE(!result.model);
  REQUIRE(result.images.sizes() == torch::IntArrayRef({10, 1, 28, 28}));
  CHECK(result.images.scalar_type() == torch::kUInt8);
  const auto& images = result.details.at("images");
  REQUIRE(images.size() == 10);
  for (const auto& image : images) {
    CHECK(image.at("score_after").get<double>() > image.at("score_before").get<double>() + 1.0);
  }
  auto predicted = predict_labels(*f.model, result.images, f.key.normalization, torch::kCPU);
  CHECK(predicted.eq(result.image_labels).sum().item<std::int64_t>() >= 9);
  // Compared with the key: each recovered image gets a trigger and a clean similarity.
  auto analysis = inversion_analysis(result.images, result.image_labels, f.key, f.context.data);
  CHECK(analysis.at("images").size() == 10);
  const double revealed = analysis.at("revealed_rate");
  CHECK((revealed >= 0 && revealed <= 1));
}

TEST_CASE("the owner's decision after an overwrite is reported with its p-value", "[attack]") {
  const auto& f = test::watermarked_mnist();
  // The attacker's own watermark, from their own seed (noise triggers, the default).
  auto attack =
      attack_registry().create("overwrite", {{"label_policy", "target"}, {"epochs", 2}, {"trigger_size", 50}});
  AttackResult result;
  auto report = evaluate_attack(*attack, *f.model, f.context, f.test, &f.key, Verifier(), &result);
  REQUIRE(report.verification_before);
  REQUIRE(report.verification_after);
  CHECK(report.verification_before->verified);
  CHECK(report.details.at("attacker_trigger_accuracy").get<double>() > 0.9);  // the attacker's mark took
  // Whether the owner's mark survives this small overwrite depends on the key (measured
  // over seeds in docs/results.md); what must hold is that the decision is the one its
  // counts give.
  const auto& after = *report.verification_after;
  INFO("owner after overwrite: match " << after.match_rate << " p " << after.p_value);
  CHECK(after.queries == f.key.tensor("labels").size(0));
  CHECK(after.match_rate == Approx(static_cast<double>(after.matches) / static_cast<double>(after.queries)));
  // The larger of the binomial test's and the control test's (a target-label key).
  const auto& control = after.control;
  REQUIRE(control.contains("target_answers"));
  const double control_log10 = fisher_exact_greater_log10(after.matches, after.queries,
                                                          control["target_answers"], control["queries"]);
  CHECK(after.log10_p_value ==
        Approx(std::max(binomial_upper_tail_log10(after.matches, after.queries, after.chance_rate), control_log10))
            .margin(1e-9));
  CHECK(after.verified == (after.p_value < after.p_threshold && after.match_rate >= after.min_match_rate));
  CHECK(report.test_accuracy_after > 0.85);
  const auto json = report.to_json();
  CHECK(json.at("verification_after").at("verified") == after.verified);
  CHECK(json.at("verification_after").at("p_value").get<double>() == report.verification_after->p_value);

  // A stamp of the attacker's own ("MINE") at the owner's position, with another label,
  // takes the owner's "TEST" triggers over: the claim fails (docs/robustness.md). (With
  // the owner's own target class the stamp would only reinforce the mark.)
  const auto owner_target = f.key.params.at("target_label").get<std::int64_t>();
  auto stamp = attack_registry().create("overwrite", {{"trigger", "content"},
                                                      {"trigger_options", {{"text", "MINE"}}},
                                                      {"target_label", (owner_target + 1) % 10},
                                                      {"epochs", 2},
                                                      {"trigger_size", 50}});
  auto taken = evaluate_attack(*stamp, *f.model, f.context, f.test, &f.key);
  INFO("owner after a same-position stamp: match " << taken.verification_after->match_rate);
  CHECK_FALSE(taken.verification_after->verified);
  CHECK(taken.verification_after->match_rate < 0.5);
}

TEST_CASE("an attack report measures how far the weights moved and whether the accuracy was kept", "[attack]") {
  const auto& f = test::watermarked_mnist();
  AttackResult result;
  auto report = evaluate_attack(PruneAttack(PruneOptions().rate(0.5)), *f.model, f.context, f.test, &f.key, Verifier(),
                                &result);
  // Pruning moves exactly the pruned weights to zero: the distance is their norm.
  double squares = 0;
  auto before = f.model->named_parameters(), after = result.model->named_parameters();
  for (const auto& item : before) {
    const auto zeroed = after[item.key()].eq(0) & item.value().ne(0);
    squares += item.value().masked_select(zeroed).pow(2).sum().item<double>();
  }
  REQUIRE(report.weight_distance.has_value());
  CHECK(*report.weight_distance == Approx(std::sqrt(squares)).epsilon(1e-6));
  CHECK(*report.relative_weight_distance == Approx(*report.weight_distance / parameter_norm(*f.model)));
  CHECK(report.kept_accuracy() == (report.test_accuracy_after >= report.test_accuracy_before - 0.05));
  const auto json = report.to_json();
  CHECK(json["weight_distance"].get<double>() == *report.weight_distance);
  CHECK(json["kept_accuracy"] == report.kept_accuracy());
  // A model of another architecture has no distance to the victim.
  auto other = model_registry().create("cifar_cnn", {{1, 28, 28}, 10});
  CHECK_FALSE(parameter_distance(*f.model, *other).has_value());
  CHECK(parameter_distance(*f.model, *f.model) == 0.0);
}

TEST_CASE("weight quantization leaves 2^bits levels per tensor, each weight within half a step", "[attack]") {
  const auto& f = test::watermarked_mnist();
  const auto before = f.model->named_parameters();
  for (std::int64_t bits : {1, 5}) {
    INFO("bits " << bits);
    AttackResult result;
    auto report = evaluate_attack(WeightQuantizationAttack(WeightQuantizationOptions().bits(bits).epochs(0)), *f.model,
                                  f.context, f.test, nullptr, Verifier(), &result);
    CHECK(result.details["tensors"] == before.size());
    auto after = result.model->named_parameters();
    for (const auto& item : before) {
      const auto& q = after[item.key()];
      const double lo = item.value().min().item<double>(), hi = item.value().max().item<double>();
      CHECK(std::get<0>(at::_unique(q.flatten())).numel() <= (std::int64_t(1) << bits));
      CHECK((q - item.value()).abs().max().item<double>() <= (hi - lo) / std::pow(2.0, bits + 1) + 1e-6);
    }
    // Five bits keep the model. (One bit, two levels per tensor, costs it 5-20 points
    // depending on the fixture's exact weights: not asserted.)
    if (bits == 5) CHECK(report.test_accuracy_after > report.test_accuracy_before - 0.02);
  }
  // Only convolution and linear weights: the biases stay as they were.
  auto weights_only = WeightQuantizationAttack(WeightQuantizationOptions().scope("weights").epochs(0)).run(*f.model, f.context);
  CHECK(torch::equal(weights_only.model->named_parameters()["fc1.bias"], before["fc1.bias"]));
  CHECK_FALSE(torch::equal(weights_only.model->named_parameters()["fc1.weight"], before["fc1.weight"]));
  CHECK_THROWS_WITH(WeightQuantizationAttack(WeightQuantizationOptions().bits(0)), Contains("bits"));
}

TEST_CASE("fine-pruning removes the least active units of the last convolution and keeps them removed", "[attack]") {
  const auto& f = test::watermarked_mnist();
  // The attacker's own measurement, made independently: conv2's mean activation per unit.
  at::Tensor activation;
  {
    torch::NoGradGuard no_grad;
    f.model->eval();
    ActivationCapture capture(*f.model, "conv2");
    f.model->forward(f.context.data.normalization.apply(f.context.data.images));
    activation = f.model->captured("conv2").mean({0, 2, 3});
  }
  const auto least_active = std::get<1>(activation.sort()).narrow(0, 0, 32);

  auto pruned = FinePruningAttack(FinePruningOptions().rate(0.5).epochs(0)).run(*f.model, f.context);
  CHECK(pruned.details["layer"] == "conv2");
  REQUIRE(pruned.details["pruned"].size() == 32);
  auto params = pruned.model->named_parameters();
  const auto fc1 = params["fc1.weight"].view({params["fc1.weight"].size(0), 64, -1});
  for (std::int64_t k = 0; k < 32; ++k) {
    const auto unit = least_active[k].item<std::int64_t>();
    CHECK(std::find(pruned.details["pruned"].begin(), pruned.details["pruned"].end(), unit) !=
          pruned.details["pruned"].end());
    CHECK(params["conv2.weight"][unit].abs().sum().item<double>() == 0);
    CHECK(fc1.select(1, unit).abs().sum().item<double>() == 0);
  }
  // Fine-tuning keeps them at zero and the model useful.
  auto tuned = FinePruningAttack(FinePruningOptions().rate(0.5).epochs(1)).run(*f.model, f.context);
  auto tuned_params = tuned.model->named_parameters();
  for (const auto& unit : tuned.details["pruned"]) {
    CHECK(tuned_params["conv2.weight"][unit.get<std::int64_t>()].abs().sum().item<double>() == 0);
  }
  CHECK(accuracy(*tuned.model, f.test, torch::kCPU) > 0.9);
  CHECK_THROWS_WITH(FinePruningAttack(FinePruningOptions().layer("conv9")).run(*f.model, f.context),
                    Contains("conv9") && Contains("conv1, conv2, fc1"));
  // cifar_cnn's inner convolutions are not exposed (its "features" block shows only the last).
  auto cifar = test::attack_context("cifar_cnn", f.context.data, 1);
  CHECK_THROWS_WITH(FinePruningAttack(FinePruningOptions().layer("features.0"))
                        .run(*model_registry().create("cifar_cnn", {{1, 28, 28}, 10}), cifar),
                    Contains("exposes no activations of layer features.0"));
}

TEST_CASE("fine-pruning reaches the units inside resnet18's last residual block", "[attack]") {
  const auto& f = test::watermarked_mnist();
  torch::manual_seed(7);
  auto model = model_registry().create("resnet18", {{1, 28, 28}, 10});
  auto modules = model->named_modules("", false);
  auto* conv1 = modules["layers.7.conv1"]->as<torch::nn::Conv2d>();
  auto* bn1 = modules["layers.7.bn1"]->as<torch::nn::BatchNorm2d>();
  auto* conv2 = modules["layers.7.conv2"]->as<torch::nn::Conv2d>();
  auto* bn2 = modules["layers.7.bn2"]->as<torch::nn::BatchNorm2d>();
  {
    // Statistics a trained block could have, so that ranking without bn1 would differ.
    torch::NoGradGuard no_grad;
    bn1->running_mean.copy_(torch::randn({512}) * 0.2);
    bn1->running_var.copy_(torch::rand({512}) + 0.5);
    bn1->weight.copy_(torch::rand({512}) + 0.5);
    bn1->bias.copy_(torch::randn({512}) * 0.3);
  }
  const auto attacker = f.context.data.select(torch::arange(200, torch::kLong));
  // The attacker's own measurement: the block's units, ReLU(bn1(conv1(block input))). That
  // they are the block's inner units is checked through the block: its output must be
  // ReLU(bn2(conv2(units)) + input) (layers.7 keeps its shape, so the shortcut is the input).
  at::Tensor activation;
  {
    torch::NoGradGuard no_grad;
    model->eval();
    ActivationCapture input(*model, "layers.6"), output(*model, "layers.7");
    model->forward(attacker.normalization.apply(attacker.images));
    const auto x = model->captured("layers.6");
    const auto units = bn1->forward(conv1->forward(x)).relu();
    CHECK(torch::allclose(model->captured("layers.7"), (bn2->forward(conv2->forward(units)) + x).relu(), 1e-4, 1e-5));
    activation = units.mean({0, 2, 3}).to(torch::kDouble);
  }
  auto context = test::attack_context("resnet18", attacker, 1);
  auto pruned = FinePruningAttack(FinePruningOptions().rate(0.5).epochs(0)).run(*model, context);
  CHECK(pruned.details["layer"] == "layers.7.conv1");
  REQUIRE(pruned.details["pruned"].size() == 256);
  auto kept = torch::ones({512}, torch::kBool);
  for (const auto& unit : pruned.details["pruned"]) kept[unit.get<std::int64_t>()] = false;
  // The least active half: none pruned is more active than any kept (ties aside).
  CHECK(activation.masked_select(~kept).max().item<double>() <= activation.masked_select(kept).min().item<double>() + 1e-9);
  auto params = pruned.model->named_parameters();
  CHECK(params["layers.7.conv1.weight"].index({~kept}).abs().sum().item<double>() == 0);
  CHECK(params["layers.7.conv2.weight"].index({torch::indexing::Slice(), ~kept}).abs().sum().item<double>() == 0);
  CHECK(params["layers.7.conv2.weight"].index({torch::indexing::Slice(), kept}).abs().sum().item<double>() > 0);
}
