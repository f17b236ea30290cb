// What the white-box scheme tests of this folder check after the thief's dummy neurons:
// a key without a unit reference cannot read the widened model at all; with one, the
// dummies are removed and every bit is back; a clean model widened the same way stays
// unclaimed.
#pragma once

#include <catch2/catch.hpp>

#include "wmark/attack/dummy_neurons.h"
#include "wmark/verify/verifier.h"

namespace wmark::test {

inline void check_dummy_neurons_undone(Network& marked, Network& clean, const WatermarkKey& key,
                                       const WatermarkKey& aligned_key, const AttackContext& context) {
  using Catch::Matchers::Contains;
  const Verifier verifier;
  const auto widened = DummyNeuronsAttack().run(marked, context);
  CHECK_THROWS_WITH(verifier.verify_white_box(*widened.model, key, "widened"), Contains("another architecture"));
  const auto recovered = verifier.verify_white_box(*widened.model, aligned_key, "widened");
  INFO(recovered.to_json().dump());
  CHECK(recovered.verified);
  CHECK(recovered.bit_error_rate == 0);
  CHECK(recovered.unit_alignment["plain_matches"].is_null());
  CHECK_THAT(recovered.unit_alignment["plain_unreadable"].get<std::string>(), Contains("another architecture"));
  // Only the readings taken share the threshold: aligned, and aligned against the complement.
  CHECK(recovered.p_threshold == Approx(VerifierOptions().p_threshold() / 2));
  CHECK_FALSE(recovered.bits_inverted);
  const auto clean_widened = DummyNeuronsAttack().run(clean, context);
  CHECK_FALSE(verifier.verify_white_box(*clean_widened.model, aligned_key, "clean widened").verified);
}

}  // namespace wmark::test
