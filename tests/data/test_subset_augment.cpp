#include <catch2/catch.hpp>

#include <torch/torch.h>

#include "../support/test_support.h"
#include "wmark/data/augment.h"
#include "wmark/data/subset.h"
#include "wmark/util/random.h"

using namespace wmark;

TEST_CASE("balanced subsets are deterministic per seed and balanced by class", "[data]") {
  const auto& train = test::mnist().train;
  const auto a = balanced_subset(train, 1000, 7);
  const auto b = balanced_subset(train, 1000, 7);
  const auto c = balanced_subset(train, 1000, 8);
  REQUIRE(a.size() == 1000);
  CHECK(torch::equal(a.labels, b.labels));
  CHECK(torch::equal(a.images, b.images));
  CHECK_FALSE(torch::equal(a.images, c.images));
  auto counts = torch::bincount(a.labels, {}, 10);
  CHECK(counts.eq(100).all().item<bool>());
  // An uneven count still spreads within one sample per class.
  auto odd = torch::bincount(balanced_subset(train, 1003, 1).labels, {}, 10);
  CHECK(odd.sum().item<int64_t>() == 1003);
  CHECK((odd.max() - odd.min()).item<int64_t>() <= 1);
  CHECK(balanced_subset(train, 0, 1).size() == train.size());
}

TEST_CASE("a held-out split partitions the data", "[data]") {
  const auto& test_split = test::mnist().test;
  auto [rest, held] = split_holdout(test_split, 2000, 3);
  CHECK(rest.size() == 8000);
  CHECK(held.size() == 2000);
  CHECK(rest.labels.sum().item<int64_t>() + held.labels.sum().item<int64_t>() ==
        test_split.labels.sum().item<int64_t>());
}

TEST_CASE("batched crop and flip keep shapes and move pixels as specified", "[data]") {
  auto generator = make_generator(5);
  auto batch = torch::arange(2 * 3 * 8 * 8, torch::kLong).remainder(251).to(torch::kUInt8).view({2, 3, 8, 8});
  auto same = random_crop_flip(batch, 0, false, generator);
  CHECK(torch::equal(same, batch));

  auto out = random_crop_flip(batch, 2, false, generator);
  CHECK(out.sizes() == batch.sizes());
  CHECK(out.scalar_type() == torch::kUInt8);
  // Every output is a window of the zero-padded input.
  auto padded = torch::constant_pad_nd(batch, {2, 2, 2, 2}, 0);
  for (int i = 0; i < 2; ++i) {
    bool found = false;
    for (int dy = 0; dy <= 4 && !found; ++dy)
      for (int dx = 0; dx <= 4 && !found; ++dx)
        found = torch::equal(padded[i].narrow(1, dy, 8).narrow(2, dx, 8), out[i]);
    CHECK(found);
  }

  // Flips alone: each image is either itself or its mirror, and both occur.
  auto many = batch[0].unsqueeze(0).repeat({64, 1, 1, 1});
  auto flipped = random_crop_flip(many, 0, true, generator);
  int mirrored = 0;
  for (int i = 0; i < 64; ++i) {
    const bool is_same = torch::equal(flipped[i], many[i]);
    const bool is_mirror = torch::equal(flipped[i], many[i].flip({2}));
    CHECK((is_same || is_mirror));
    mirrored += is_mirror;
  }
  CHECK(mirrored > 10);
  CHECK(mirrored < 54);
}

TEST_CASE("normalisation is exact and carries gradients back to float inputs", "[data]") {
  Normalization norm{{0.5, 0.25}, {0.5, 0.25}};
  auto images = torch::tensor({0, 255, 51, 102}, torch::kUInt8).view({1, 2, 1, 2});
  auto x = norm.apply(images);
  CHECK(torch::allclose(x, torch::tensor({-1.0f, 1.0f, -0.2f, 0.6f}).view({1, 2, 1, 2})));
  // Model inversion optimises pixels through the normalisation: the backward pass must
  // see the real scale after apply() has returned (1 / (255 std) per channel).
  auto pixels = torch::full({1, 2, 1, 2}, 100.0f).set_requires_grad(true);
  norm.apply(pixels).sum().backward();
  CHECK(pixels.grad()[0][0][0][0].item<double>() == Approx(1.0 / (255 * 0.5)));
  CHECK(pixels.grad()[0][1][0][1].item<double>() == Approx(1.0 / (255 * 0.25)));
}
