// BlackMarks: a multi-bit signature read from a suspect's answers through the class
// clusters. The owner's model before marking, other clean models and malformed keys
// must not read it.
#include <catch2/catch.hpp>

#include <torch/torch.h>

#include "../support/test_support.h"
#include "small_mnist.h"
#include "wmark/data/subset.h"
#include "wmark/models/clone.h"
#include "wmark/models/registry.h"
#include "wmark/train/evaluate.h"
#include "wmark/train/trainer.h"
#include "wmark/util/error.h"
#include "wmark/verify/verifier.h"
#include "wmark/watermark/scheme.h"

using namespace wmark;
using Catch::Matchers::Contains;

namespace {

struct BlackMarksFixture {
  DatasetSplits splits;
  NetworkPtr before;    // the owner's clean model, kept as it was before marking
  NetworkPtr marked;    // fine-tuned from a copy of it
  NetworkPtr stranger;  // another clean model
  EmbedResult result;
};

const BlackMarksFixture& blackmarks() {
  static const BlackMarksFixture fixture = [] {
    const auto& data = test::small_mnist();
    BlackMarksFixture f;
    f.splits = data.splits;
    f.before = data.clean_a;
    f.stranger = data.clean_b;
    f.marked = clone_network(*f.before, [] { return test::SmallMnist::fresh(0); });
    f.result = embed_watermark("blackmarks", {{"bits", 48}}, test::small_mnist_request(f.marked, "blackmarks-test", true));
    return f;
  }();
  return fixture;
}

}  // namespace

TEST_CASE("a blackmarks signature is read from the marked model's answers and not from clean ones", "[watermark]") {
  const auto& f = blackmarks();
  const auto& key = f.result.key;
  REQUIRE(key.method == "blackmarks");
  CHECK(key.tensor("bits").size(0) == 48);
  const auto& clusters = key.tensor("clusters");
  REQUIRE(clusters.size(0) == 10);
  CHECK(clusters.sum().item<std::int64_t>() > 0);
  CHECK(clusters.sum().item<std::int64_t>() < 10);
  // Both bit values occur, and each key image's target class lies in its bit's cluster.
  CHECK(key.tensor("bits").sum().item<std::int64_t>() > 0);
  CHECK(torch::equal(clusters.index_select(0, key.tensor("labels")), key.tensor("bits")));
  CHECK(f.result.clean_accuracy_after > f.result.clean_accuracy_before - 0.03);

  const Verifier verifier;
  const auto marked = verifier.verify_model(*f.marked, key, "marked", torch::kCPU);
  CHECK(marked.verified);
  CHECK(marked.bit_error_rate <= 0.1);
  CHECK(marked.chance_rate == Approx(0.5));
  // The model before marking reads no bit right: keys were kept only where it read the other.
  const auto before = verifier.verify_model(*f.before, key, "before", torch::kCPU);
  CHECK(before.matches == 0);
  CHECK_FALSE(before.verified);
  const auto stranger = verifier.verify_model(*f.stranger, key, "stranger", torch::kCPU);
  CHECK_FALSE(stranger.verified);
  CHECK(stranger.bit_error_rate > 0.5);
}

TEST_CASE("blackmarks halves the step for a bit whose candidates all cross at the full step", "[watermark]") {
  const auto& data = test::small_mnist();
  // A full step of 1.0 sets every pixel to 0 or 1: such images land in the clusters of a
  // few classes, whatever they were aimed at, so without smaller steps some bit has no key.
  const nlohmann::json crossing{{"bits", 24}, {"epsilon", 1.0}, {"oversample", 2}, {"step_halvings", 0}};
  auto refused = clone_network(*data.clean_a, [] { return test::SmallMnist::fresh(0); });
  CHECK_THROWS_WITH(embed_watermark("blackmarks", crossing, test::small_mnist_request(refused, "blackmarks-step", true)),
                    Contains("even at epsilon/1; raise oversample or step_halvings"));

  auto marked = clone_network(*data.clean_a, [] { return test::SmallMnist::fresh(0); });
  auto halved = crossing;
  halved["step_halvings"] = 6;
  const auto result = embed_watermark("blackmarks", halved, test::small_mnist_request(marked, "blackmarks-step", true));
  const auto per_halving = result.details.at("key_images_per_halving").get<std::vector<std::int64_t>>();
  REQUIRE(per_halving.size() == 7);
  CHECK(per_halving[0] < 24);  // some bits needed a smaller step
  CHECK(result.key.params.at("step_halvings") == 6);
  const Verifier verifier;
  CHECK(verifier.verify_model(*marked, result.key, "marked", torch::kCPU).verified);
  const auto before = verifier.verify_model(*data.clean_a, result.key, "before", torch::kCPU);
  CHECK(before.matches == 0);
  CHECK_FALSE(before.verified);
  // Smaller steps leave the key images nearer their sources: another clean model still
  // reads them as the other bit, not the owner's signature.
  const auto stranger = verifier.verify_model(*data.clean_b, result.key, "stranger", torch::kCPU);
  CHECK_FALSE(stranger.verified);
  CHECK(stranger.bit_error_rate > 0.5);
}

TEST_CASE("blackmarks refuses malformed keys and bad options", "[watermark]") {
  const auto& f = blackmarks();
  auto broken = f.result.key;
  broken.tensors["clusters"] = torch::zeros({3}, torch::kUInt8);
  CHECK_THROWS_WITH(Verifier().verify_model(*f.marked, broken, "marked", torch::kCPU),
                    Contains("malformed blackmarks key"));
  CHECK_THROWS_WITH(query_matches(f.result.key, torch::tensor({0L}), torch::tensor({10L})),
                    Contains("not one of the key's 10 classes"));
  CHECK_THROWS_WITH(scheme_registry().create("blackmarks", {{"bits", 4}}), Contains("'bits' must be at least 8"));
  CHECK_THROWS_WITH(scheme_registry().create("blackmarks", {{"epsilon", 2.0}}), Contains("'epsilon' must be at most 1"));
  CHECK_THROWS_WITH(scheme_registry().create("blackmarks", {{"step_halvings", 21}}),
                    Contains("'step_halvings' must be at most 20"));
}
