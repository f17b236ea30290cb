// Extraction attacks: the victim's answers (labels or class probabilities) to the
// thief's queries train a fresh surrogate; knockoff queries with another dataset's
// images; transfer learning starts from the thief's network pretrained on another
// task; a served victim is extracted over the Open Inference Protocol.
#include <catch2/catch.hpp>

#include <torch/torch.h>

#include <cmath>

#include "../support/test_support.h"
#include "../support/watermarked_fixture.h"
#include "wmark/attack/finetune.h"
#include "wmark/attack/knockoff.h"
#include "wmark/attack/retraining.h"
#include "wmark/attack/transfer_learning.h"
#include "wmark/data/image_convert.h"
#include "wmark/eval/attack_report.h"
#include "wmark/models/registry.h"
#include "wmark/serve/server.h"
#include "wmark/train/evaluate.h"
#include "wmark/train/trainer.h"
#include "wmark/util/error.h"
#include "wmark/verify/classifier.h"
#include "wmark/verify/remote_classifier.h"

using namespace wmark;
using Catch::Matchers::Contains;

namespace {

double agreement(Network& a, Network& b, const Dataset& data) {
  const auto la = predict_labels(a, data.images, data.normalization, torch::kCPU);
  const auto lb = predict_labels(b, data.images, data.normalization, torch::kCPU);
  return la.eq(lb).to(torch::kDouble).mean().item<double>();
}

// A deployed victim whose scores are its class probabilities (softmax of its logits), as
// other servers may return them; or a broken one: NaN scores, labels outside the task's
// classes, or scores for 7 classes of 10.
enum class Serving { probabilities, nan_scores, foreign_labels, narrow_scores };

class ProbabilityEndpoint : public Classifier {
 public:
  ProbabilityEndpoint(NetworkPtr model, Normalization normalization, Serving serving)
      : inner_(std::move(model), std::move(normalization)), serving_(serving) {}
  at::Tensor classify(const at::Tensor& images) override { return answer(images).labels; }
  SuspectAnswers answer(const at::Tensor& images) override {
    queries_ += images.size(0);
    auto answers = inner_.answer(images);
    answers.scores = torch::softmax(answers.scores, 1);
    if (serving_ == Serving::nan_scores) answers.scores.fill_(std::nan(""));
    if (serving_ == Serving::foreign_labels) answers.labels = answers.labels + 10;
    if (serving_ == Serving::narrow_scores) answers.scores = answers.scores.narrow(1, 0, 7).contiguous();
    return answers;
  }
  std::string describe() const override { return "probability endpoint"; }

 private:
  ModuleClassifier inner_;
  Serving serving_;
};

}  // namespace

TEST_CASE("training on one-hot soft labels is training on the hard labels", "[attack][extraction]") {
  const auto& data = test::watermarked_mnist().context.data;
  Dataset soft = data;
  soft.soft_labels = torch::one_hot(data.labels, data.num_classes).to(torch::kFloat);
  const auto options = TrainerOptions().epochs(1).batch_size(64).lr(0.01).seed(3);
  auto hard_model = test::fresh_mnist_cnn(11), soft_model = test::fresh_mnist_cnn(11);
  Trainer(hard_model, options).fit(data);
  Trainer(soft_model, options).fit(soft);
  const auto a = hard_model->parameters(), b = soft_model->parameters();
  REQUIRE(a.size() == b.size());
  for (std::size_t i = 0; i < a.size(); ++i) CHECK(torch::allclose(a[i], b[i], 1e-4, 1e-5));

  // Soft labels that are not [N, classes] floats are refused, naming the data.
  soft.soft_labels = torch::ones({data.size(), data.num_classes + 1});
  CHECK_THROWS_WITH(Trainer(test::fresh_mnist_cnn(1), options).fit(soft), Contains("soft labels of 'mnist'"));
  // select() keeps soft labels with their samples.
  soft.soft_labels = torch::rand({data.size(), data.num_classes});
  const auto picked = soft.select(torch::tensor({5, 2}));
  CHECK(torch::equal(picked.soft_labels[1], soft.soft_labels[2]));
}

TEST_CASE("images convert between datasets' shapes", "[attack][extraction]") {
  auto gray = torch::full({2, 1, 28, 28}, 200, torch::kUInt8);
  const auto colour = convert_images(gray, ImageShape{3, 32, 32});
  CHECK(colour.sizes() == torch::IntArrayRef({2, 3, 32, 32}));
  CHECK(colour.eq(200).all().item<bool>());  // a flat image stays flat under resampling
  auto red = torch::zeros({1, 3, 32, 32}, torch::kUInt8);
  red.select(1, 0).fill_(255);
  const auto luma = convert_images(red, ImageShape{1, 28, 28});
  CHECK(luma.sizes() == torch::IntArrayRef({1, 1, 28, 28}));
  CHECK(luma.eq(76).all().item<bool>());  // 0.299 * 255, rounded
  // Shrinking averages: the mean brightness is kept within rounding.
  const auto noise = torch::randint(0, 256, {4, 1, 32, 32}, torch::kUInt8);
  const auto small = convert_images(noise, ImageShape{1, 28, 28});
  CHECK(std::abs(small.to(torch::kFloat).mean().item<double>() - noise.to(torch::kFloat).mean().item<double>()) < 1.0);
  CHECK(convert_images(noise, ImageShape{1, 32, 32}).data_ptr() == noise.data_ptr());
  CHECK_THROWS_WITH(convert_images(torch::zeros({1, 2, 8, 8}, torch::kUInt8), ImageShape{3, 8, 8}),
                    Contains("2 channels"));
}

TEST_CASE("knockoff copies an MNIST victim's task from Fashion-MNIST queries alone", "[attack][extraction]") {
  const auto& f = test::watermarked_mnist();
  const auto run = [&](bool soft) {
    return KnockoffAttack(KnockoffOptions().budget(6000).epochs(2).soft_labels(soft)).run(*f.model, f.context);
  };
  const auto soft = run(true);
  CHECK(soft.details["queries"] == 6000);
  CHECK(soft.details["query_dataset"] == "fashion");
  CHECK(soft.details["soft_labels"] == true);
  CHECK(soft.arch == "mnist_cnn");
  // The thief never saw a digit, yet its copy labels the victim's test digits as the victim does.
  const double copied = agreement(*soft.model, *f.model, f.test);
  INFO("agreement with the victim on MNIST test digits: " << copied);
  CHECK(copied > 0.5);  // 0.64-0.77 measured (the fixture varies slightly between runs); chance is 0.1
  const auto hard = run(false);
  CHECK(hard.details["soft_labels"] == false);
  const double copied_hard = agreement(*hard.model, *f.model, f.test);
  INFO("hard labels: " << copied_hard);
  CHECK(copied_hard > 0.25);
}

TEST_CASE("a thief extracts a served model over the Open Inference Protocol within its budget",
          "[attack][extraction][serve]") {
  const auto& f = test::watermarked_mnist();
  InferenceServer server(test::served_mnist(f.model, "victim"), ServerOptions().port(0).workers(2).max_batch(64).max_body_bytes(1 << 20));
  server.start();
  auto endpoint = std::make_shared<RemoteClassifier>(
      RemoteOptions().url(server.url()).model("victim").binary(true).batch_size(64), f.key.input_shape,
      f.key.normalization);
  auto remote_context = f.context;
  remote_context.victim_endpoint = endpoint;

  auto options = RetrainingOptions().budget(600).epochs(1).soft_labels(false);
  const auto remote = RetrainingAttack(options).run(*f.model, remote_context);
  CHECK(endpoint->queries() == 600);
  CHECK(remote.details["queries"] == 600);
  // The served answers are the victim's: the copy is the one extracted in process.
  const auto local = RetrainingAttack(options).run(*f.model, f.context);
  CHECK(agreement(*remote.model, *local.model, f.test) > 0.99);
  // A knockoff thief who votes asks each of its images `votes` times, every one counted
  // by the server, and reports how many distinct images it asked.
  const auto asked_before = endpoint->queries();
  const auto voted = KnockoffAttack(KnockoffOptions().budget(200).epochs(1).soft_labels(false).votes(3).vote_twin("shift"))
                         .run(*f.model, remote_context);
  CHECK(endpoint->queries() - asked_before == 600);
  CHECK(voted.details["votes"] == 3);
  CHECK(voted.details["asked"] == 200);

  // An attack on the weights cannot use a deployed victim: refused, not silently run locally.
  CHECK_THROWS_WITH(evaluate_attack(FinetuneAttack(FinetuneOptions().epochs(1)), *f.model, remote_context, f.test, nullptr),
                    Contains("only extraction attacks query one") && Contains("knockoff"));
  // Soft labels come from the served class scores (logits, made probabilities): the copy
  // is the one extracted in process on the victim's probabilities.
  auto soft = RetrainingOptions(options).soft_labels(true);
  const auto soft_remote = RetrainingAttack(soft).run(*f.model, remote_context);
  CHECK(soft_remote.details["soft_labels"] == true);
  CHECK(agreement(*soft_remote.model, *RetrainingAttack(soft).run(*f.model, f.context).model, f.test) > 0.99);
  // A V1 endpoint answers with labels only: soft labels are refused, not faked.
  auto v1_context = f.context;
  v1_context.victim_endpoint = std::make_shared<RemoteClassifier>(
      RemoteOptions().url(server.url()).model("victim").protocol("v1"), f.key.input_shape, f.key.normalization);
  CHECK_THROWS_WITH(RetrainingAttack(soft).run(*f.model, v1_context), Contains("labels only"));
  server.stop();
}

TEST_CASE("soft labels from a victim's served probabilities are taken as they are; non-finite scores are refused",
          "[attack][extraction]") {
  const auto& f = test::watermarked_mnist();
  const auto soft = RetrainingOptions().budget(600).epochs(1).soft_labels(true);
  const auto local = RetrainingAttack(soft).run(*f.model, f.context);
  auto context = f.context;
  context.victim_endpoint = std::make_shared<ProbabilityEndpoint>(f.model, f.key.normalization, Serving::probabilities);
  // Probabilities are not passed through a second softmax: the copy is the in-process one.
  const auto copied = RetrainingAttack(soft).run(*f.model, context);
  CHECK(agreement(*copied.model, *local.model, f.test) > 0.99);
  context.victim_endpoint = std::make_shared<ProbabilityEndpoint>(f.model, f.key.normalization, Serving::nan_scores);
  CHECK_THROWS_WITH(RetrainingAttack(soft).run(*f.model, context), Contains("not finite"));
  // Answers the task cannot hold are refused before training or voting on them, hard or soft.
  context.victim_endpoint = std::make_shared<ProbabilityEndpoint>(f.model, f.key.normalization, Serving::foreign_labels);
  for (const auto& options : {soft, RetrainingOptions(soft).soft_labels(false).votes(3)})
    CHECK_THROWS_WITH(RetrainingAttack(options).run(*f.model, context),
                      Contains("retraining: probability endpoint answered a class outside 0..9"));
  context.victim_endpoint = std::make_shared<ProbabilityEndpoint>(f.model, f.key.normalization, Serving::narrow_scores);
  CHECK_THROWS_WITH(RetrainingAttack(soft).run(*f.model, context),
                    Contains("answered 7 class scores per image for a task of 10 classes"));
}

TEST_CASE("a voting thief's answers are the victim's own: a pixel moved by one level changes no answer of a model",
          "[attack][extraction]") {
  const auto& f = test::watermarked_mnist();
  auto context = f.context;
  context.victim_endpoint = std::make_shared<ProbabilityEndpoint>(f.model, f.key.normalization, Serving::probabilities);
  const auto hard = RetrainingOptions().budget(600).epochs(1).soft_labels(false);
  const auto once = RetrainingAttack(hard).run(*f.model, context);
  const auto before = context.victim_endpoint->queries();
  const auto voted = RetrainingAttack(RetrainingOptions(hard).votes(3)).run(*f.model, context);
  CHECK(context.victim_endpoint->queries() - before == 3 * 600);  // the victim sees every repeat
  CHECK(voted.details.at("votes") == 3);
  // Without answers that change, the majority is the single answer: the same copy.
  CHECK(agreement(*voted.model, *once.model, f.test) == 1.0);
}

namespace {

// A deployed victim that keeps every image it was asked about, in order.
class RecordingEndpoint : public Classifier {
 public:
  explicit RecordingEndpoint(NetworkPtr model) : inner_(std::move(model), test::watermarked_mnist().key.normalization) {}
  at::Tensor classify(const at::Tensor& images) override { return answer(images).labels; }
  SuspectAnswers answer(const at::Tensor& images) override {
    queries_ += images.size(0);
    asked.push_back(images.clone());
    return inner_.answer(images);
  }
  std::string describe() const override { return "recording endpoint"; }
  std::vector<at::Tensor> asked;

 private:
  ModuleClassifier inner_;
};

}  // namespace

TEST_CASE("a voting thief's repeats are near-twins: moved one pixel over, or noisy within the pixel range; a "
          "unanimous or label-checking thief trains on fewer images than it asked about",
          "[attack][extraction]") {
  const auto& f = test::watermarked_mnist();
  const auto hard = RetrainingOptions().budget(300).epochs(1).soft_labels(false).votes(2);
  // What the victim was asked in each round (one call per round in process), and the details.
  const auto ask = [&](const RetrainingOptions& options) {
    auto context = f.context;
    auto endpoint = std::make_shared<RecordingEndpoint>(f.model);
    context.victim_endpoint = endpoint;
    const auto result = RetrainingAttack(options).run(*f.model, context);
    return std::pair{endpoint->asked, result.details};
  };
  {
    const auto [rounds, details] = ask(RetrainingOptions(hard).vote_twin("shift"));
    REQUIRE(rounds.size() == 2);
    const auto &images = rounds[0], &twins = rounds[1];
    REQUIRE(images.sizes() == twins.sizes());
    // Each twin is its image moved by one pixel along one axis, the edge row or column repeated.
    std::int64_t shifted = 0;
    for (std::int64_t i = 0; i < images.size(0); ++i) {
      const auto x = images[i], y = twins[i];
      const bool down = torch::equal(y.narrow(1, 1, 27), x.narrow(1, 0, 27));
      const bool up = torch::equal(y.narrow(1, 0, 27), x.narrow(1, 1, 27));
      const bool right = torch::equal(y.narrow(2, 1, 27), x.narrow(2, 0, 27));
      const bool left = torch::equal(y.narrow(2, 0, 27), x.narrow(2, 1, 27));
      shifted += down || up || right || left;
    }
    CHECK(shifted == images.size(0));
    CHECK(details.at("asked") == 300);
  }
  {
    const auto [rounds, details] = ask(RetrainingOptions(hard).vote_twin("noise").vote_noise(0.1));
    REQUIRE(rounds.size() == 2);
    const auto difference = (rounds[1].to(torch::kFloat) - rounds[0].to(torch::kFloat)) / 255;
    CHECK(difference.abs().gt(0).to(torch::kFloat).mean().item<float>() > 0.5f);  // most pixels move
    CHECK(difference.std().item<float>() < 0.1f);  // no more than the noise (clamped at the range's ends)
  }
  {
    // Noise of half the range changes answers: the unanimous thief drops the images whose two answers differ.
    const auto details = ask(RetrainingOptions(hard).vote_twin("noise").vote_noise(0.5).vote_unanimous(true)).second;
    CHECK(details.at("asked") == 300);
    CHECK(details.at("queries").get<std::int64_t>() < 300);
  }
  {
    // Holding labels, the thief drops the victim's mistakes.
    const auto details = ask(RetrainingOptions(hard).votes(1).check_own_labels(true)).second;
    CHECK(details.at("queries").get<std::int64_t>() < 300);
    CHECK(details.at("queries").get<std::int64_t>() > 200);
  }
}

TEST_CASE("retraining keeps the victim's architecture and cross-architecture retraining changes it",
          "[attack][extraction]") {
  const auto& f = test::watermarked_mnist();
  CHECK_THROWS_WITH(RetrainingAttack(RetrainingOptions().surrogate("cifar_cnn")).run(*f.model, f.context),
                    Contains("cross-architecture-retraining"));
  CHECK_THROWS_WITH(
      CrossArchitectureRetrainingAttack(RetrainingOptions().surrogate("mnist_cnn")).run(*f.model, f.context),
      Contains("other than the victim's"));
  CHECK_THROWS_WITH(KnockoffAttack(KnockoffOptions().query_dataset("imagenet")), Contains("imagenet"));
  const auto too_many = f.context.data.size() + 1;
  CHECK_THROWS_WITH(RetrainingAttack(RetrainingOptions().budget(too_many)).run(*f.model, f.context),
                    Contains("exceeds the"));
  const auto copy =
      CrossArchitectureRetrainingAttack(RetrainingOptions().budget(500).epochs(1)).run(*f.model, f.context);
  CHECK(copy.arch == "cifar_cnn");
  CHECK(copy.details["surrogate"] == "cifar_cnn");
  CHECK(copy.details["queries"] == 500);
}

TEST_CASE("transfer learning turns the thief's Fashion-MNIST network into a copy of an MNIST victim",
          "[attack][extraction]") {
  const auto& f = test::watermarked_mnist();
  const auto options =
      TransferLearningOptions().parent_images(3000).parent_epochs(2).budget(0).frozen_epochs(1).epochs(3);
  const auto copy = TransferLearningAttack(options).run(*f.model, f.context);
  CHECK(copy.arch == "mnist_cnn");
  CHECK(copy.details["parent_dataset"] == "fashion");
  CHECK(copy.details["parent_images"] == 3000);
  CHECK(copy.details["queries"] == f.context.data.size());
  CHECK(copy.details["output_layer"] == "fc2.weight");
  // The parent learnt its own task before the transfer (chance is 0.1).
  CHECK(copy.details["parent_train_accuracy"].get<double>() > 0.5);
  const double copied = agreement(*copy.model, *f.model, f.test);
  INFO("agreement with the victim on MNIST test digits: " << copied);
  CHECK(copied > 0.85);
  // Its features are the thief's own: the first convolution is nowhere near the victim's.
  const auto ours = copy.model->named_parameters()["conv1.weight"], theirs = f.model->named_parameters()["conv1.weight"];
  CHECK((ours - theirs).norm().item<double>() > 0.5 * theirs.norm().item<double>());

  CHECK_THROWS_WITH(TransferLearningAttack(TransferLearningOptions().parent_dataset("imagenet")),
                    Contains("imagenet"));
  CHECK_THROWS_WITH(TransferLearningAttack(TransferLearningOptions().parent_images(100000000)).run(*f.model, f.context),
                    Contains("parent_images") && Contains("fashion"));
}
