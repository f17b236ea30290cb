// Every registered trigger generator passes the same checks (the contract in
// include/wmark/watermark/trigger/trigger_generator.h).
#include <catch2/catch.hpp>

#include <torch/torch.h>

#include "../support/test_support.h"
#include "declared_options.h"
#include "wmark/data/subset.h"
#include "wmark/util/error.h"
#include "wmark/watermark/trigger/trigger_generator.h"

using namespace wmark;

namespace {
TriggerSpec spec_with(std::uint64_t seed, const std::string& policy, std::int64_t size = 50) {
  TriggerSpec spec;
  spec.secret = experiment_secret(seed, "conformance");
  spec.label_policy = policy;
  spec.size = size;
  spec.data_dir = test::shared_data();
  return spec;
}
}  // namespace

TEST_CASE("every trigger generator honours the generator contract", "[conformance]") {
  const auto train = balanced_subset(test::mnist().train, 3000, 5);
  for (const auto& name : trigger_registry().names()) {
    INFO("generator " << name);
    auto generator = trigger_registry().create(name);
    CHECK(generator->name() == name);
    test::check_declared_options(trigger_registry(), name);
    // Options round-trip through the registry (they are what the key records).
    auto rebuilt = trigger_registry().create(name, generator->options());
    CHECK(rebuilt->options() == generator->options());

    const auto a = generator->generate(train, spec_with(7, "target"));
    const auto b = rebuilt->generate(train, spec_with(7, "target"));
    const auto c = generator->generate(train, spec_with(8, "target"));

    // Shape, dtype, count.
    REQUIRE(a.size() == 50);
    CHECK(a.images.sizes() == torch::IntArrayRef({50, 1, 28, 28}));
    CHECK(a.images.scalar_type() == torch::kUInt8);
    CHECK(a.labels.scalar_type() == torch::kInt64);
    CHECK(a.source_labels.size(0) == 50);
    // Deterministic per secret, different across secrets.
    CHECK(torch::equal(a.images, b.images));
    CHECK(torch::equal(a.labels, b.labels));
    CHECK_FALSE(torch::equal(a.images, c.images));
    // Target policy: one class for all, and no trigger made from an image of it.
    const auto target = a.labels[0].item<std::int64_t>();
    CHECK(a.labels.eq(target).all().item<bool>());
    CHECK(a.source_labels.ne(target).all().item<bool>());
    CHECK(target == resolve_target_label(spec_with(7, "target"), 10));
    // Triggers are not copies of training images, except natural ones, which are
    // training images exactly (only their labels mark).
    if (name == "natural") {
      CHECK(without_images(train, a.images).size() == train.size() - 50);
    } else {
      CHECK(without_images(train, a.images).size() == train.size());
    }

    // Random policy: labels in range, spread over classes, never the source class.
    const auto r = generator->generate(train, spec_with(7, "random", 200));
    CHECK(r.labels.min().item<std::int64_t>() >= 0);
    CHECK(r.labels.max().item<std::int64_t>() < 10);
    CHECK(r.labels.ne(r.source_labels).all().item<bool>());
    CHECK(std::get<0>(at::_unique(r.labels)).size(0) >= 8);

    // An explicit target is honoured; an impossible one is refused.
    auto fixed = spec_with(7, "target");
    fixed.target_label = 4;
    CHECK(generator->generate(train, fixed).labels.eq(4).all().item<bool>());
    fixed.target_label = 10;
    CHECK_THROWS_AS(generator->generate(train, fixed), Error);
  }
}

TEST_CASE("the registry refuses unknown generators and options", "[conformance]") {
  CHECK_THROWS_WITH(trigger_registry().create("pixel"), Catch::Contains("unknown trigger generator"));
  CHECK_THROWS_WITH(trigger_registry().create("noise", {{"sigmaa", 0.2}}), Catch::Contains("unknown option 'sigmaa'"));
  CHECK_THROWS_WITH(trigger_registry().create("noise", {{"sigma", "big"}}),
                    Catch::Contains("the noise trigger: 'sigma' must be a number"));
}
