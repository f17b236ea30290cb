// Verifiable keys (issue #17): a key is trusted only if its secret derives it, which
// leaves a false accuser no way to choose triggers or projections after seeing a model.
#include <catch2/catch.hpp>

#include <torch/torch.h>

#include "../support/test_support.h"
#include "../support/watermarked_fixture.h"
#include "wmark/data/subset.h"
#include "wmark/models/registry.h"
#include "wmark/verify/classifier.h"
#include "wmark/verify/verifier.h"
#include "wmark/watermark/derivation.h"
#include "wmark/watermark/embed.h"
#include "wmark/watermark/whitebox/deepsigns.h"
#include "wmark/watermark/whitebox/uchida.h"

using namespace wmark;
using Catch::Matchers::Contains;

namespace {

KeyDerivation derive(const WatermarkKey& key) { return check_key_derivation(key, test::shared_data()); }

Verifier strict(bool accept = false) {
  return Verifier(VerifierOptions().require_derivable_key(true).accept_unverifiable_keys(accept).data_dir(
      test::shared_data()));
}

}  // namespace

TEST_CASE("a key its secret derives is accepted; one relabelled or repainted trigger is not", "[watermark]") {
  const auto& f = test::watermarked_mnist();
  const auto honest = derive(f.key);
  INFO(honest.reason);
  CHECK(honest.derivable);
  // Through the file too (the commitment is recomputed, the secret read back).
  test::TempDir dir;
  f.key.save(dir / "key.wmk");
  CHECK(derive(WatermarkKey::load(dir / "key.wmk")).derivable);

  auto relabelled = f.key;
  relabelled.tensors["labels"] = f.key.tensor("labels").clone();
  relabelled.tensors["labels"][3] = (relabelled.tensors["labels"][3].item<std::int64_t>() + 1) % 10;
  CHECK_THAT(derive(relabelled).reason, Contains("labels are not the ones its secret derives"));
  auto repainted = f.key;
  repainted.tensors["images"] = f.key.tensor("images").clone();
  repainted.tensors["images"][0][0][0][0] = 255 - repainted.tensors["images"][0][0][0][0].item<std::uint8_t>();
  CHECK_THAT(derive(repainted).reason, Contains("images are not the ones its secret derives"));
  auto other_owner = f.key;
  other_owner.secret.owner_public_key = std::string(64, 'f');
  CHECK_FALSE(derive(other_owner).derivable);  // the owner is part of the derivation
  auto legacy = f.key;
  legacy.legacy_seed = 77;
  CHECK_THAT(derive(legacy).reason, Contains("format-1"));
}

TEST_CASE("the ambiguity attack: a key made of a victim's own answers is refused unless accepted as forgeable",
          "[watermark]") {
  // The false accuser picks images, asks an innocent model for its labels and writes
  // them into a key with the "random" policy: 100% matches at p ~ 1e-50.
  const auto& f = test::watermarked_mnist();
  const auto victim = test::clean_mnist();
  ModuleClassifier suspect(victim, f.key.normalization, "victim");
  auto forged = f.key;
  forged.tensors["images"] = f.test.images.narrow(0, 0, 50).clone();
  forged.tensors["labels"] = suspect.classify(forged.tensors["images"]);
  forged.params["label_policy"] = "random";
  forged.tensors.erase("control_images");  // a target-label key's, which this one is not

  const auto naive = Verifier().verify(suspect, forged);
  CHECK(naive.verified);  // what the statistics alone say
  CHECK(naive.key_derivation.empty());

  const auto refused = strict().verify(suspect, forged);
  CHECK_FALSE(refused.verified);
  CHECK(refused.refused_key());
  CHECK_THAT(refused.key_derivation, Contains("not derivable"));
  CHECK(refused.to_json()["decision"] == "not verified: the key is not derivable from its secret");

  const auto accepted = strict(true).verify(suspect, forged);
  CHECK(accepted.verified);
  CHECK(accepted.key_forgeable);
  CHECK(accepted.to_json()["key_forgeable"] == true);

  // The honest key, checked the same way, verifies its own model and not the victim.
  ModuleClassifier marked(f.model, f.key.normalization, "marked");
  const auto owner = strict().verify(marked, f.key);
  CHECK(owner.verified);
  CHECK(owner.key_derivation == "derived");
  CHECK_FALSE(strict().verify(suspect, f.key).verified);
}

TEST_CASE("triggers drawn from a private subset or user files are not derivable, and say why", "[watermark]") {
  const auto train = balanced_subset(test::mnist().train, 2000, 3);
  auto options = TriggerWatermarkOptions().trigger("noise");
  options.spec().size = 20;
  const auto subset_key = make_trigger_embedder(train, options)->key();
  CHECK_THAT(derive(subset_key).reason, Contains("2000 images of mnist") && Contains("private subset"));
  options.spec().sources = test::mnist().train;
  CHECK(derive(make_trigger_embedder(train, options)->key()).derivable);

  auto folder = make_trigger_embedder(train, options)->key();
  folder.params["generator"] = "unrelated";
  folder.params["generator_options"] = {{"source", ""}, {"folder", "/tmp/mine"}};
  CHECK_THAT(derive(folder).reason, Contains("user folder"));
}

TEST_CASE("an Uchida key derives from its secret: projection and bits, or the bits of its signature text",
          "[watermark]") {
  const auto train = balanced_subset(test::mnist().train, 200, 3);
  auto model = model_registry().create("mnist_cnn", {train.shape(), 10});
  for (const std::string text : {"", "ACME"}) {
    INFO("signature '" << text << "'");
    const auto key = make_uchida_embedder(*model, train, UchidaOptions().layer("conv2").bits(32).signature(text))->key();
    CHECK(derive(key).derivable);
    // A projection chosen after reading the suspect's weights is what the check refuses.
    auto chosen = key;
    chosen.tensors["projection"] = torch::randn(key.tensor("projection").sizes());
    CHECK_THAT(derive(chosen).reason, Contains("projection"));
    auto flipped = key;
    flipped.tensors["bits"] = key.tensor("bits").clone();
    flipped.tensors["bits"][0] = 1 - flipped.tensors["bits"][0].item<std::uint8_t>();
    CHECK_THAT(derive(flipped).reason, Contains("bits"));
  }
}

TEST_CASE("a DeepSigns key derives from its secret: projection, bits and key inputs from the public split",
          "[watermark]") {
  const auto train = balanced_subset(test::mnist().train, 500, 3);
  auto model = model_registry().create("mnist_cnn", {train.shape(), 10});
  auto options = DeepSignsOptions().layer("fc1").bits(16).target_classes({2, 5}).key_inputs(20);
  const auto subset_key = make_deepsigns_embedder(model, train, options)->key();
  CHECK_THAT(derive(subset_key).reason, Contains("key inputs were drawn from 500 images"));
  const auto key = make_deepsigns_embedder(model, train, options.sources(test::mnist().train))->key();
  INFO(derive(key).reason);
  CHECK(derive(key).derivable);
  // Key inputs hand-picked to steer the mean activation are what the check refuses.
  auto picked = key;
  picked.tensors["images"] = key.tensor("images").clone();
  picked.tensors["images"][0] = test::mnist().train.images[0];
  CHECK_THAT(derive(picked).reason, Contains("key inputs are not the ones its secret derives"));
  auto projected = key;
  projected.tensors["projection"] = key.tensor("projection") * 2;
  CHECK_THAT(derive(projected).reason, Contains("projection"));
}
