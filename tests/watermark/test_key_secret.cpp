// Key secrets (issue #17): drawn from the OS CSPRNG, never from --seed; every random
// choice of a key read from a BLAKE2b-keyed ChaCha20 stream bound to the owner.
#include <catch2/catch.hpp>

#include <torch/torch.h>

#include "../support/test_support.h"
#include "wmark/data/subset.h"
#include "wmark/util/error.h"
#include "wmark/watermark/embed.h"
#include "wmark/watermark/key_secret.h"

using namespace wmark;
using Catch::Matchers::Contains;

namespace {

KeySecret counting_secret(std::string owner = "") {
  KeySecret secret;
  for (std::size_t i = 0; i < secret.value.size(); ++i) secret.value[i] = static_cast<std::uint8_t>(i);
  secret.owner_public_key = std::move(owner);
  return secret;
}

}  // namespace

TEST_CASE("the key stream is BLAKE2b-keyed ChaCha20, equal to an independent implementation", "[watermark]") {
  // Known answers from Python's hashlib.blake2b and the `cryptography` package's ChaCha20
  // (zero nonce, counter from 0): the derivation an arbiter reimplements from the docs.
  // The 131st word lies past the stream's first 1024-byte buffer.
  auto words = [](KeyStream stream) {
    std::vector<std::uint64_t> out;
    for (int i = 0; i < 131; ++i) out.push_back(stream.next_u64());
    return out;
  };
  const auto noise = words(counting_secret().stream("noise"));
  CHECK(noise[0] == 0x6739a2e4a74dd91aULL);
  CHECK(noise[1] == 0x63fd8ee801f9e737ULL);
  CHECK(noise[2] == 0x649d1ff1c4258fa3ULL);
  CHECK(noise[130] == 0x770d90a0e5b90b28ULL);
  const auto labels = words(counting_secret(std::string(32, 'a') + std::string(32, 'b')).stream("random-labels"));
  const auto bound = words(counting_secret(std::string(64, 'a')).stream("random-labels"));
  CHECK(labels[0] != bound[0]);  // the owner is bound into the stream
  const auto owner_ab = [] {
    std::string hex;
    for (int i = 0; i < 32; ++i) hex += "ab";
    return hex;
  }();
  const auto ab = words(counting_secret(owner_ab).stream("random-labels"));
  CHECK(ab[0] == 0xd68ceaaaa5ad9829ULL);
  CHECK(ab[1] == 0xaa651f1dae067abbULL);
  CHECK(ab[130] == 0x00d0a36a7df13738ULL);
  CHECK(experiment_secret(77, "test-fixture").hex() ==
        "bfcc6e2f7c2636f45a18c1fa4786ceef8e53b1f336d0d348c2adf3e18a6307bb");
}

TEST_CASE("key stream draws are in range, distinct where asked, and unbiased", "[watermark]") {
  auto stream = counting_secret().stream("statistics");
  const auto classes = stream.uniform(60000, 10);
  CHECK(classes.min().item<std::int64_t>() == 0);
  CHECK(classes.max().item<std::int64_t>() == 9);
  const auto counts = torch::bincount(classes, {}, 10);
  // 6000 each; 5 standard deviations (73) either side.
  CHECK(counts.min().item<std::int64_t>() > 6000 - 365);
  CHECK(counts.max().item<std::int64_t>() < 6000 + 365);
  const auto permutation = stream.sample(100, 100);
  CHECK(torch::equal(std::get<0>(permutation.sort()), torch::arange(100, torch::kLong)));
  const auto picked = stream.sample(60000, 50);
  CHECK(std::get<0>(at::_unique(picked)).size(0) == 50);
  CHECK(picked.max().item<std::int64_t>() < 60000);
  CHECK_THROWS_WITH(stream.sample(10, 11), Contains("cannot draw 11 distinct values from 10"));
  CHECK_THROWS_WITH(stream.uniform(0), Contains("at least 1"));
  const auto z = stream.normal({200000});
  CHECK(std::abs(z.mean().item<double>()) < 0.01);
  CHECK(z.var().item<double>() == Approx(1.0).epsilon(0.02));
  CHECK(z.abs().max().item<double>() <= 6.0);
  const auto bytes = stream.bytes({100000});
  CHECK(bytes.to(torch::kDouble).mean().item<double>() == Approx(127.5).epsilon(0.01));
}

TEST_CASE("key secrets come fresh from the OS CSPRNG; a given one is checked and never echoed", "[watermark]") {
  const KeySecret a, b;
  CHECK(a != b);
  CHECK(a.hex().size() == 64);
  CHECK(KeySecret::from_hex(a.hex()) == a);
  const std::string bad = "not-a-secret-but-a-typo-" + std::string(40, 'g');
  try {
    KeySecret::from_hex(bad);
    FAIL("a malformed secret was accepted");
  } catch (const Error& error) {
    CHECK_THAT(error.what(), Contains("64 hex digits"));
    CHECK_THAT(error.what(), !Contains("typo"));
  }
  CHECK_THROWS_WITH(KeySecret::from_hex(a.hex().substr(2)), Contains("64 hex digits"));
}

TEST_CASE("default keys differ; a given secret reproduces triggers, bound to its owner", "[watermark]") {
  const auto train = balanced_subset(test::mnist().train, 2000, 3);
  auto options = [](std::string trigger) {
    auto o = TriggerWatermarkOptions().trigger(std::move(trigger));
    o.spec().size = 40;
    o.spec().label_policy = "random";
    o.spec().data_dir = test::shared_data();
    return o;
  };
  for (const std::string trigger : {"content", "noise"}) {
    INFO(trigger);
    // Nothing set: two owners who keep every default get unrelated keys.
    const auto first = make_trigger_embedder(train, options(trigger));
    const auto second = make_trigger_embedder(train, options(trigger));
    CHECK_FALSE(torch::equal(first->triggers().images, second->triggers().images));
    CHECK_FALSE(torch::equal(first->triggers().labels, second->triggers().labels));
    CHECK(first->key().commitment() != second->key().commitment());
    CHECK(first->key().secret != second->key().secret);

    // The same secret and owner: the same triggers and labels, yet (fresh salt) another
    // commitment, so a commitment does not reveal which secret it hides.
    auto given = options(trigger);
    given.spec().secret = experiment_secret(5, "test");
    const auto again = make_trigger_embedder(train, given);
    const auto once_more = make_trigger_embedder(train, given);
    CHECK(torch::equal(again->triggers().images, once_more->triggers().images));
    CHECK(torch::equal(again->triggers().labels, once_more->triggers().labels));
    CHECK(again->key().commitment() != once_more->key().commitment());

    // The same secret bound to another owner: other triggers.
    given.spec().secret.owner_public_key = std::string(64, 'c');
    const auto other_owner = make_trigger_embedder(train, given);
    CHECK_FALSE(torch::equal(again->triggers().images, other_owner->triggers().images));
    CHECK(other_owner->key().secret.owner_public_key == std::string(64, 'c'));
  }
}
