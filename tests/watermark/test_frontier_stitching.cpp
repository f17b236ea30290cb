// Frontier stitching: adversarial key samples near the decision frontier, fine-tuned
// back to their true classes. Its keys carry true labels, so both adversaries are
// played here: clean models must not verify, and a key forged from natural images
// verifies against any accurate model unless derivation is required.
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

struct FrontierFixture {
  DatasetSplits splits;
  NetworkPtr marked;
  NetworkPtr reference;  // a clean model the key was filtered against
  NetworkPtr stranger;   // a clean model the owner never saw
  EmbedResult result;
};

const FrontierFixture& frontier() {
  static const FrontierFixture fixture = [] {
    const auto& data = test::small_mnist();
    FrontierFixture f;
    f.splits = data.splits;
    f.reference = data.clean_a;
    f.stranger = data.clean_b;
    f.marked = test::SmallMnist::fresh(6);
    auto request = test::small_mnist_request(f.marked, "frontier-test");
    request.references = {f.reference};
    f.result = embed_watermark("frontier-stitching", {{"trigger_size", 80}}, request);
    return f;
  }();
  return fixture;
}

}  // namespace

TEST_CASE("frontier stitching marks a model that clean models do not match", "[watermark]") {
  const auto& f = frontier();
  const auto& key = f.result.key;
  REQUIRE(key.method == "frontier-stitching");
  const auto& images = key.tensor("images");
  CHECK(images.size(0) == 40);
  CHECK(key.tensor("false_images").size(0) == 40);
  CHECK(f.result.clean_accuracy_after > 0.85);
  CHECK(f.result.clean_accuracy_after > f.result.clean_accuracy_before - 0.03);
  CHECK(f.result.details["true_adversaries"] == 40);
  // Every true adversary fools the reference it was filtered against.
  CHECK(accuracy(*f.reference, images, key.tensor("labels"), key.normalization, torch::kCPU) == 0.0);

  const Verifier verifier;
  const auto marked = verifier.verify_model(*f.marked, key, "marked", torch::kCPU);
  CHECK(marked.verified);
  CHECK(marked.chance_rate == Approx(0.5));
  CHECK(marked.queries == 40);  // the true adversaries only
  const auto stranger = verifier.verify_model(*f.stranger, key, "stranger", torch::kCPU);
  CHECK_FALSE(stranger.verified);
  CHECK(stranger.match_rate < 0.75);
  // Why the false adversaries are not queried: a clean model answers them like the owner.
  CHECK(accuracy(*f.stranger, key.tensor("false_images"), key.tensor("false_labels"), key.normalization,
                 torch::kCPU) > 0.7);
}

TEST_CASE("a frontier-stitching key forged from natural images is refused when keys must derive", "[watermark]") {
  const auto& f = frontier();
  // The false accuser: test images the stranger classifies right, with their true labels.
  auto forged = f.result.key;
  const auto& test = f.splits.test;
  const auto right = predict_labels(*f.stranger, test.images, test.normalization, torch::kCPU).eq(test.labels);
  const auto pick = right.nonzero().flatten().narrow(0, 0, 40);
  forged.tensors["images"] = test.images.index_select(0, pick).contiguous();
  forged.tensors["labels"] = test.labels.index_select(0, pick).contiguous();
  // By the statistics alone it "proves" ownership of a model its maker never touched...
  CHECK(Verifier().verify_model(*f.stranger, forged, "stranger", torch::kCPU).verified);
  // ...which is why such keys prove nothing unless derivation is waived explicitly.
  const auto checked = Verifier(VerifierOptions().require_derivable_key(true)).verify_model(*f.stranger, forged, "stranger",
                                                                                             torch::kCPU);
  CHECK_FALSE(checked.verified);
  CHECK_THAT(checked.key_derivation, Contains("not derivable"));
}

TEST_CASE("frontier stitching refuses bad options and data it cannot stitch", "[watermark]") {
  CHECK_THROWS_WITH(scheme_registry().create("frontier-stitching", {{"epsilon", 0.0}}), Contains("'epsilon' must be at least"));
  CHECK_THROWS_WITH(scheme_registry().create("frontier-stitching", {{"trigger_size", 10}, {"min_keys", 6}}),
                    Contains("min_keys must be at most half of trigger_size"));
  CHECK_THROWS_WITH(scheme_registry().create("frontier-stitching", {{"epsilon", "big"}}), Contains("epsilon"));
  // A step too small to move any prediction leaves no true adversary.
  const auto& f = frontier();
  const auto request = test::small_mnist_request(clone_network(*f.stranger, [] { return test::SmallMnist::fresh(0); }),
                                                "frontier-tiny-step", true);
  CHECK_THROWS_WITH(embed_watermark("frontier-stitching", {{"epsilon", 0.001}, {"trigger_size", 40}}, request),
                    Contains("true adversaries"));
}
