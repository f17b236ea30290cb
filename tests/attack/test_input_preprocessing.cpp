// Input-preprocessing attacks: the transforms do what they claim (JPEG's error grows as
// the quality drops, smoothing removes specks, quantization leaves so many levels), the
// deployment (PreprocessedNetwork) is what reports and wmark serve --preprocess query.
#include <catch2/catch.hpp>

#include <torch/torch.h>

#include "../support/watermarked_fixture.h"
#include "wmark/attack/input_preprocessing.h"
#include "wmark/attack/input_transforms.h"
#include "wmark/attack/thief_artefacts.h"
#include "wmark/eval/attack_report.h"
#include "wmark/serve/server.h"
#include "wmark/train/evaluate.h"
#include "wmark/util/error.h"
#include "wmark/verify/remote_classifier.h"

using namespace wmark;
using Catch::Matchers::Contains;

namespace {

at::Tensor unit(const at::Tensor& images) { return images.to(torch::kFloat) / 255; }

double mean_squared_error(const at::Tensor& a, const at::Tensor& b) { return (a - b).pow(2).mean().item<double>(); }

}  // namespace

TEST_CASE("JPEG compression loses more as the quality drops and keeps flat blocks", "[attack][preprocessing]") {
  const auto& f = test::watermarked_mnist();
  const auto grey = unit(f.test.images.narrow(0, 0, 20));
  // Colour: three digits as the red, green and blue channels.
  const auto colour = torch::cat({grey.narrow(0, 0, 5), grey.narrow(0, 5, 5), grey.narrow(0, 10, 5)}, 1);
  for (const auto& pixels : {grey, colour}) {
    double previous = 1;
    for (std::int64_t quality : {10, 50, 90}) {
      const double error = mean_squared_error(JpegCompression(JpegCompressionOptions().quality(quality)).apply(pixels), pixels);
      INFO("channels " << pixels.size(1) << " quality " << quality << " mse " << error);
      CHECK(error < previous);
      CHECK(error > 0);
      previous = error;
    }
  }
  // At quality 100 every step of the tables is 1: grey images come back within rounding.
  const auto best = JpegCompression(JpegCompressionOptions().quality(100)).apply(grey);
  CHECK((best - grey).abs().max().item<float>() <= 2.0f / 255);
  // A flat image has only a DC coefficient, which quantization keeps to within a step.
  const auto flat = torch::full({1, 1, 16, 16}, 100.0f / 255);
  const auto flat_out = JpegCompression(JpegCompressionOptions().quality(50)).apply(flat);
  CHECK((flat_out - flat_out.mean()).abs().max().item<float>() < 1e-6f);
  CHECK(std::abs(flat_out.mean().item<float>() * 255 - 100) <= 4);
}

TEST_CASE("pixel-level transforms: levels, specks, blur, mirror and noise as declared", "[attack][preprocessing]") {
  const auto& f = test::watermarked_mnist();
  const auto pixels = unit(f.test.images.narrow(0, 0, 10));
  CHECK(std::get<0>(at::_unique(InputQuantization(InputQuantizationOptions().divisions(4)).apply(pixels))).numel() <= 4);
  const auto squeezed = FeatureSqueezing(FeatureSqueezingOptions().bit_depth(1)).apply(pixels);
  CHECK(squeezed.eq(0).logical_or(squeezed.eq(1)).all().item<bool>());

  // A lone bright speck on black goes under a 3x3 median; a flat image stays flat.
  auto speck = torch::zeros({1, 1, 9, 9});
  speck[0][0][4][4] = 1;
  CHECK(MedianSmoothing().apply(speck).max().item<float>() == 0);
  const auto flat = torch::full({1, 3, 8, 8}, 0.4f);
  CHECK(torch::allclose(MedianSmoothing().apply(flat), flat));
  CHECK(torch::allclose(GaussianSmoothing().apply(flat), flat, 1e-6, 1e-6));
  // Gaussian blur spreads a speck but keeps its mass (away from the edges).
  const auto blurred = GaussianSmoothing(GaussianSmoothingOptions().sigma(1.0)).apply(speck);
  CHECK(blurred.sum().item<float>() == Approx(1.0).margin(1e-5));
  CHECK(blurred[0][0][4][4].item<float>() < 0.2f);
  CHECK_THROWS_WITH(MedianSmoothing(MedianSmoothingOptions().kernel(4)), Contains("odd"));
  // Wide windows over many images go in chunks (bounded memory), with the same result.
  const auto many = torch::rand({40, 3, 32, 32});
  const MedianSmoothing wide(MedianSmoothingOptions().kernel(15));
  const auto whole = wide.apply(many);
  CHECK(torch::equal(whole.narrow(0, 30, 10), wide.apply(many.narrow(0, 30, 10))));

  CHECK(torch::equal(InputFlipping().apply(InputFlipping().apply(pixels)), pixels));
  CHECK(torch::equal(InputFlipping().apply(pixels).select(3, 0), pixels.select(3, 27)));

  const auto noised = InputNoising(InputNoisingOptions().std(0.05)).apply(pixels);
  const auto inside = pixels.gt(0.2).logical_and(pixels.lt(0.8));  // where clipping cannot bite
  CHECK((noised - pixels).masked_select(inside).std().item<double>() == Approx(0.05).margin(0.01));
  CHECK(torch::equal(InputNoising(InputNoisingOptions().std(0.0)).apply(pixels), pixels));
  CHECK_FALSE(torch::equal(InputNoising(InputNoisingOptions().std(0.05).noise_seed(2)).apply(pixels), noised));
}

TEST_CASE("an input-preprocessing attack keeps the weights and is verified as deployed, in process and served",
          "[attack][preprocessing][serve]") {
  const auto& f = test::watermarked_mnist();
  const auto attack = attack_registry().create("input-median-smoothing", {{"kernel", 3}});
  AttackResult result;
  const auto report = evaluate_attack(*attack, *f.model, f.context, f.test, &f.key, Verifier(), &result);
  REQUIRE(result.preprocess);
  CHECK(result.preprocess->name() == "input-median-smoothing");
  CHECK(report.weight_distance.value_or(-1) == 0);
  CHECK(result.details["agreement"].get<double>() > 0.8);

  // The report's decision is the deployment's answers to the triggers.
  PreprocessedNetwork deployed(result.model, result.preprocess, f.key.normalization);
  const auto answers = predict_labels(deployed, f.key.tensor("images"), f.key.normalization, torch::kCPU);
  const auto matches = answers.eq(f.key.tensor("labels")).sum().item<std::int64_t>();
  CHECK(report.verification_after->matches == matches);
  const auto direct = predict_labels(*f.model, f.key.tensor("images"), f.key.normalization, torch::kCPU);
  CHECK_FALSE(torch::equal(answers, direct));  // the transform changed some answers

  // wmark serve --preprocess serves the same deployment: remote answers are in-process ones.
  auto served = test::served_mnist(std::make_shared<PreprocessedNetwork>(f.model, result.preprocess, f.key.normalization),
                                   "thief");
  InferenceServer server(served, ServerOptions().port(0).workers(2).max_batch(256).max_body_bytes(4 << 20));
  server.start();
  RemoteClassifier remote(RemoteOptions().url(server.url()).model("thief").binary(true), f.key.input_shape,
                          f.key.normalization);
  CHECK(torch::equal(remote.classify(f.key.tensor("images")), answers));
  server.stop();
}

TEST_CASE("input reconstruction redraws the thief's images faithfully and the deployment is verified through it",
          "[attack][preprocessing]") {
  const auto& f = test::watermarked_mnist();
  // 400 steps of the default 2000 suffice here (mean squared error 0.003 after 300).
  const auto attack = attack_registry().create("input-reconstruction", {{"steps", 400}});
  AttackResult result;
  const auto report = evaluate_attack(*attack, *f.model, f.context, f.test, &f.key, Verifier(), &result);
  REQUIRE(result.preprocess);
  INFO(report.to_json().dump());
  CHECK(result.preprocess->name() == "input-reconstruction");
  CHECK(report.weight_distance.value_or(-1) == 0);
  CHECK(result.details["reconstruction_mse"].get<double>() < 0.02);  // RMS error below 0.14 of the range
  CHECK(result.details["agreement"].get<double>() > 0.9);
  CHECK(report.test_accuracy_after > report.test_accuracy_before - 0.05);
  // The output is an image, and each image is redrawn by itself.
  const auto pixels = f.test.images.narrow(0, 0, 6).to(torch::kFloat) / 255.0;
  const auto redrawn = result.preprocess->apply(pixels);
  CHECK(redrawn.sizes() == pixels.sizes());
  CHECK(redrawn.min().item<double>() >= 0);
  CHECK(redrawn.max().item<double>() <= 1);
  CHECK(torch::allclose(result.preprocess->apply(pixels.narrow(0, 2, 1)), redrawn.narrow(0, 2, 1), 1e-5, 1e-5));
  // The decision is the deployment's answers to the triggers.
  PreprocessedNetwork deployed(result.model, result.preprocess, f.key.normalization);
  const auto answers = predict_labels(deployed, f.key.tensor("images"), f.key.normalization, torch::kCPU);
  CHECK(report.verification_after->matches == answers.eq(f.key.tensor("labels")).sum().item<std::int64_t>());

  auto odd = f.context;
  odd.data.images = torch::zeros({4, 1, 30, 30}, torch::kUInt8);
  odd.data.labels = torch::zeros({4}, torch::kLong);
  CHECK_THROWS_WITH(attack->run(*f.model, odd), Contains("multiples of 4"));
}

TEST_CASE("a thief's autoencoder is trained once for every victim when the context shares artefacts, "
          "with the same result as training it again",
          "[attack][preprocessing]") {
  const auto& f = test::watermarked_mnist();
  const auto attack = attack_registry().create("input-reconstruction", {{"steps", 60}});
  auto shared = f.context;
  shared.artefacts = std::make_shared<ThiefArtefacts>();
  torch::manual_seed(5);
  auto other_victim = f.context.make_model();  // untrained: another victim, same thief

  const auto first = attack->run(*f.model, shared);
  const auto second = attack->run(*other_victim, shared);
  CHECK(shared.artefacts->size() == 1);
  CHECK(shared.artefacts->hits() == 1);
  const auto alone = attack->run(*other_victim, f.context);  // no cache: trains its own
  const auto pixels = f.test.images.narrow(0, 0, 8).to(torch::kFloat) / 255.0;
  CHECK(torch::equal(second.preprocess->apply(pixels), alone.preprocess->apply(pixels)));
  CHECK(torch::equal(first.preprocess->apply(pixels), alone.preprocess->apply(pixels)));
  CHECK(second.details == alone.details);
  CHECK(second.details["agreement"] != first.details["agreement"]);  // the victim's part is per victim

  // Other thief data, another seed or other options train another autoencoder.
  auto fewer = shared;
  fewer.data = shared.data.select(torch::arange(500));
  attack->run(*f.model, fewer);
  auto reseeded = shared;
  reseeded.seed += 1;
  attack->run(*f.model, reseeded);
  attack_registry().create("input-reconstruction", {{"steps", 61}})->run(*f.model, shared);
  CHECK(shared.artefacts->size() == 4);
  CHECK(shared.artefacts->hits() == 1);

  // One key asked for as another type is refused, not reinterpreted.
  ThiefArtefacts store;
  CHECK(*store.get_or_build<int>("parent", std::function<int()>([] { return 7; })) == 7);
  CHECK(*store.get_or_build<int>("parent", std::function<int()>([] { return 8; })) == 7);
  CHECK_THROWS_WITH(store.get_or_build<double>("parent", std::function<double()>([] { return 1.0; })),
                    Contains("stored as another type"));
}
