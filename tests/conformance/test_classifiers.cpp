// Every Classifier implementation must honour the contract of verify/classifier.h: raw
// uint8 images in, int64 labels [N] on the CPU out, the model's own preprocessing
// applied, queries() counting images, and a wrong input shape refused as wmark::Error;
// answer() gives the same labels and, where the suspect gives them, scores whose argmax
// they are. The same model behind each of them gives the same answers.
#include <catch2/catch.hpp>

#include <torch/torch.h>

#include <functional>

#include "../support/test_support.h"
#include "../support/torchscript_fixture.h"
#include "../support/watermarked_fixture.h"
#include "wmark/serve/server.h"
#include "wmark/util/error.h"
#include "wmark/verify/classifier.h"
#include "wmark/verify/remote_classifier.h"
#include "wmark/verify/sandboxed_classifier.h"

using namespace wmark;

namespace {

struct ClassifierCase {
  std::string name;
  std::function<std::unique_ptr<Classifier>()> make;
};

}  // namespace

TEST_CASE("every classifier labels raw images as the model does and counts its queries", "[conformance]") {
  const auto& f = test::watermarked_mnist();
  test::TempDir dir;
  const auto script = dir / "marked.ts";
  test::save_mnist_cnn_as_torchscript(*f.model, script);
  InferenceServer server(test::served_mnist(f.model), ServerOptions().port(0).workers(2).max_batch(64).max_body_bytes(1 << 22));
  server.start();
  const auto remote = RemoteOptions().url(server.url()).model("mnist").batch_size(16).retries(0);
  const auto& norm = f.key.normalization;
  const std::vector<ClassifierCase> cases{
      {"module", [&] { return std::make_unique<ModuleClassifier>(f.model, norm, "module", torch::kCPU, 7); }},
      {"torchscript", [&] { return std::make_unique<TorchScriptClassifier>(script, norm, torch::kCPU, 7); }},
      {"sandboxed",
       [&] {
         return std::make_unique<SandboxedClassifier>(
             script, norm, SandboxOptions().worker_path(test::wmark_binary()).batch_size(7));
       }},
      {"remote v2 json", [&] { return std::make_unique<RemoteClassifier>(remote, f.key.input_shape, norm); }},
      {"remote v2 binary",
       [&] { return std::make_unique<RemoteClassifier>(RemoteOptions(remote).binary(true), f.key.input_shape, norm); }},
      {"remote v1",
       [&] { return std::make_unique<RemoteClassifier>(RemoteOptions(remote).protocol("v1"), f.key.input_shape, norm); }},
  };

  // The truth: the model's own argmax over the normalised batch.
  const auto images = torch::cat({f.key.tensor("images").narrow(0, 0, 20), f.test.images.narrow(0, 0, 20)});
  f.model->eval();
  at::Tensor expected, expected_logits;
  {
    torch::NoGradGuard no_grad;
    expected_logits = f.model->forward(norm.apply(images));
    expected = expected_logits.argmax(1);
  }
  for (const auto& c : cases) {
    SECTION(c.name) {
      auto classifier = c.make();
      CHECK_FALSE(classifier->describe().empty());
      CHECK(classifier->queries() == 0);
      const auto labels = classifier->classify(images);
      CHECK(labels.scalar_type() == torch::kLong);
      CHECK(labels.device().is_cpu());
      REQUIRE(labels.sizes() == torch::IntArrayRef({40}));
      CHECK(torch::equal(labels, expected));  // batches of 7 and 16: uneven last batches too
      CHECK(classifier->queries() == 40);
      CHECK(torch::equal(classifier->classify(images.narrow(0, 3, 5)), expected.narrow(0, 3, 5)));
      CHECK(classifier->queries() == 45);
      // Scores from every suspect but a V1 server, which gives labels only.
      const auto answers = classifier->answer(images);
      CHECK(classifier->queries() == 85);
      CHECK(torch::equal(answers.labels, expected));
      if (c.name == "remote v1") {
        CHECK_FALSE(answers.scores.defined());
      } else {
        REQUIRE(answers.scores.defined());
        CHECK(answers.scores.scalar_type() == torch::kFloat);
        REQUIRE(answers.scores.sizes() == torch::IntArrayRef({40, 10}));
        CHECK(torch::allclose(answers.scores, expected_logits, 1e-4, 1e-4));
      }
      // A batch of another shape is refused with an error, never a crash or a guess.
      CHECK_THROWS_AS(classifier->classify(torch::zeros({2, 3, 32, 32}, torch::kUInt8)), Error);
    }
  }
}
