// The false accuser's forgery (Liu et al. 2024): adversarial triggers crafted on the
// accuser's own model fool that model, and the key they make is refused by a verifier
// that requires keys derived from a secret.
#include <catch2/catch.hpp>

#include <torch/torch.h>

#include "../support/test_support.h"
#include "../support/watermarked_fixture.h"
#include "wmark/attack/forge.h"
#include "wmark/models/checkpoint.h"
#include "wmark/util/error.h"
#include "wmark/verify/classifier.h"
#include "wmark/verify/verifier.h"
#include "wmark/watermark/derivation.h"

using namespace wmark;

TEST_CASE("attack forge: triggers within the budget that fool the surrogate, in a key verify refuses", "[attack]") {
  const auto& f = test::watermarked_mnist();
  auto surrogate = test::clean_mnist();  // the accuser's own model
  const auto before = test::snapshot(*surrogate);
  const auto options = ForgeOptions().triggers(40).seed(5);
  const auto forged = forge_trigger_key({surrogate}, f.context.data, options);
  CHECK(test::same_as(*surrogate, before));  // the surrogate is not trained

  const auto& key = forged.key;
  REQUIRE(key.tensor("images").sizes() == at::IntArrayRef({40, 1, 28, 28}));
  REQUIRE(key.tensor("labels").size(0) == 40);
  CHECK(key.legacy_seed.has_value());
  CHECK(key.num_classes == 10);
  CHECK(forged.details["max_linf_distance"].get<double>() <= 0.3 + 0.5 / 255 + 1e-6);
  // A white-box targeted attack on the surrogate itself succeeds on most triggers.
  CHECK(forged.details["surrogate_target_rate"][0].get<double>() >= 0.8);
  // Same options, same forgery.
  CHECK(torch::equal(forge_trigger_key({surrogate}, f.context.data, options).key.tensor("images"), key.tensor("images")));

  // The accuser's claim against the surrogate: refused by default, decided only on request.
  ModuleClassifier suspect(surrogate, key.normalization, "accuser-model.pt");
  CHECK_FALSE(check_key_derivation(key).derivable);
  const auto strict = Verifier(VerifierOptions().require_derivable_key(true)).verify(suspect, key);
  CHECK(strict.refused_key());
  CHECK_FALSE(strict.verified);
  const auto lax = Verifier(VerifierOptions().require_derivable_key(true).accept_unverifiable_keys(true)).verify(suspect, key);
  CHECK(lax.key_forgeable);
  CHECK(lax.verified);  // on the model it was crafted on, the forgery "verifies" when accepted

  CHECK_THROWS_WITH(forge_trigger_key({}, f.context.data, options), Catch::Contains("surrogate"));
  CHECK_THROWS_WITH(forge_trigger_key({surrogate}, f.context.data, ForgeOptions().epsilon(0)), Catch::Contains("epsilon"));
  CHECK_THROWS_WITH(forge_trigger_key({surrogate}, f.context.data, ForgeOptions().triggers(1000000)),
                    Catch::Contains("source images"));
}

TEST_CASE("wmark attack forge writes a key that the default verify refuses", "[attack]") {
  test::TempDir dir;
  const auto surrogate = (dir / "accuser.pt").string();
  const auto& key = test::watermarked_mnist().key;
  save_checkpoint(surrogate, *test::clean_mnist(),
                  CheckpointInfo{"mnist_cnn", {key.input_shape, 10}, "mnist", key.normalization, 1, nlohmann::json::object()});
  const auto forged = (dir / "forged.wmk").string();
  const auto wmark = test::wmark_binary() + " ";
  const auto data = " --data-dir " + test::shared_data().string();
  std::string out;
  REQUIRE(test::run_command(wmark + "attack forge --surrogate " + surrogate + " --triggers 30 --seed 3 --out " + forged +
                                " --report " + (dir / "forge.json").string() + data,
                            out) == 0);
  CHECK_THAT(out, Catch::Contains("forged key") && Catch::Contains("--accept-unverifiable-keys"));
  CHECK(WatermarkKey::load(forged).tensor("labels").size(0) == 30);
  CHECK(test::run_command(wmark + "attack forge --surrogate " + surrogate + " --out " + forged + data, out) == 2);
  CHECK_THAT(out, Catch::Contains("exists"));  // never overwritten without --force
  // The accuser's own model, which the forgery fools: refused by default.
  CHECK(test::run_command(wmark + "verify --model " + surrogate + " --key " + forged + data, out) == 1);
  CHECK_THAT(out, Catch::Contains("refused: not derivable"));
  CHECK(test::run_command(wmark + "verify --model " + surrogate + " --key " + forged + " --accept-unverifiable-keys" + data,
                          out) == 0);
  CHECK_THAT(out, Catch::Contains("VERIFIED") && Catch::Contains("proves nothing against a false accuser"));
  CHECK(test::run_command(wmark + "attack forge --surrogate " + (dir / "missing.pt").string() + " --out " +
                              (dir / "x.wmk").string(),
                          out) != 0);
}
