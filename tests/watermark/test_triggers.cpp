#include <catch2/catch.hpp>

#include <torch/torch.h>

#include "../support/test_support.h"
#include "wmark/data/subset.h"
#include "wmark/util/error.h"
#include "wmark/watermark/trigger/content_trigger.h"
#include "wmark/watermark/trigger/noise_trigger.h"
#include "wmark/watermark/trigger/unrelated_trigger.h"

using namespace wmark;
using Catch::Matchers::Contains;

TEST_CASE("the content stamp writes the text where expected and nothing else", "[watermark]") {
  auto images = torch::full({2, 1, 28, 28}, 40, torch::kUInt8);
  ContentTrigger trigger;  // "TEST", centred, one pixel above the bottom
  auto out = trigger.stamp(images);
  // "TEST" is 23x7 pixels: columns 2..24, rows 20..26.
  auto changed = out.ne(images);
  CHECK(changed.narrow(2, 0, 20).any().item<bool>() == false);
  CHECK(changed.narrow(3, 0, 2).any().item<bool>() == false);
  CHECK(changed.narrow(3, 25, 3).any().item<bool>() == false);
  // The T's top bar: row 20, columns 2..6 white; its stem at column 4 down to row 26.
  CHECK(out[0][0][20].narrow(0, 2, 5).eq(255).all().item<bool>());
  CHECK(out[1][0][26][4].item<int>() == 255);
  CHECK(out[0][0][26][2].item<int>() == 40);  // under the T's bar, beside its stem
  // Ink pixels: T(11) + E(18) + S(15) + T(11) = 55.
  CHECK(changed[0].sum().item<int64_t>() == 55);

  // Half intensity blends; colour images get the stamp on every channel.
  auto rgb = torch::zeros({1, 3, 32, 32}, torch::kUInt8);
  auto half = ContentTrigger(ContentTriggerOptions().intensity(0.5).x(0).y(0)).stamp(rgb);
  CHECK(half[0][0][0][0].item<int>() == 128);
  CHECK(half[0][2][0][0].item<int>() == 128);
  auto big = ContentTrigger(ContentTriggerOptions().text("AB").scale(2).x(1).y(1)).stamp(rgb);
  CHECK(big.ne(0).sum().item<int64_t>() % 4 == 0);

  CHECK_THROWS_WITH(ContentTrigger(ContentTriggerOptions().text("WATERMARK")).stamp(images),
                    Contains("does not fit"));
  CHECK_THROWS_WITH(ContentTrigger(ContentTriggerOptions().text("a@b")).stamp(images), Contains("no glyph for '@'"));
}

TEST_CASE("a content pattern image and its mask are stamped", "[watermark]") {
  test::TempDir dir;
  // A 3x2 grey PGM pattern (value 200) and a mask that keeps only its left column.
  test::write_bytes(dir / "p.pgm", std::string("P5\n3 2\n255\n") + std::string(6, char(200)));
  test::write_bytes(dir / "m.pgm", std::string("P2\n3 2\n255\n255 0 0\n255 0 0\n"));
  auto images = torch::zeros({1, 1, 10, 10}, torch::kUInt8);
  auto out = ContentTrigger(ContentTriggerOptions().pattern((dir / "p.pgm").string()).mask((dir / "m.pgm").string()).x(4).y(5))
                 .stamp(images);
  CHECK(out.ne(0).sum().item<int64_t>() == 2);
  CHECK(out[0][0][5][4].item<int>() == 200);
  CHECK(out[0][0][6][4].item<int>() == 200);
  CHECK_THROWS_WITH(ContentTrigger(ContentTriggerOptions().pattern((dir / "none.png").string())).stamp(images),
                    Contains("none.png") && Contains("does not exist"));
}

TEST_CASE("noise triggers stay near their source images with the requested spread", "[watermark]") {
  const auto train = balanced_subset(test::mnist().train, 2000, 1);
  TriggerSpec spec;
  spec.size = 100;
  auto set = NoiseTrigger(NoiseTriggerOptions().sigma(0.1)).generate(train, spec);
  // The sources are the images pick_sources draws for the same spec and purpose.
  auto sources = train.images.index_select(0, pick_sources(train, 100, spec, "noise-sources")).to(torch::kFloat);
  CHECK(torch::equal(set.source_labels, train.labels.index_select(0, pick_sources(train, 100, spec, "noise-sources"))));
  auto residual = set.images.to(torch::kFloat) - sources;
  // Where the source is pure black, clamping cuts the negative half: the positive half of
  // N(0, 25.5) leaves E[max(0, X)] = 25.5 / sqrt(2 pi) = 10.2 on average.
  auto black = sources.eq(0);
  const double mean_black = residual.masked_select(black).mean().item<double>();
  CHECK(mean_black == Approx(0.1 * 255 / std::sqrt(2 * M_PI)).epsilon(0.1));
  // Every trigger differs from its source.
  CHECK(residual.abs().sum({1, 2, 3}).gt(0).all().item<bool>());
  CHECK_THROWS_AS(NoiseTrigger(NoiseTriggerOptions().sigma(0)), Error);
}

TEST_CASE("unrelated triggers come from another domain in the model's shape", "[watermark]") {
  const auto train = balanced_subset(test::mnist().train, 500, 1);
  TriggerSpec spec;
  spec.size = 20;
  spec.data_dir = test::shared_data();
  // CIFAR-10 images for an MNIST model: converted to grey 28x28.
  auto set = UnrelatedTrigger(UnrelatedTriggerOptions().source("cifar10")).generate(train, spec);
  CHECK(set.images.sizes() == torch::IntArrayRef({20, 1, 28, 28}));
  CHECK(set.source_labels.eq(-1).all().item<bool>());
  CHECK(UnrelatedTrigger().source_for("mnist") == "fashion");
  CHECK(UnrelatedTrigger().source_for("cifar10") == "mnist");

  test::TempDir dir;
  for (int i = 0; i < 3; ++i) {
    test::write_bytes(dir / ("img" + std::to_string(i) + ".ppm"),
                      std::string("P6\n4 4\n255\n") + std::string(48, char(60 * i)));
  }
  spec.size = 3;
  auto folder = UnrelatedTrigger(UnrelatedTriggerOptions().folder(dir.path().string())).generate(train, spec);
  CHECK(folder.images.sizes() == torch::IntArrayRef({3, 1, 28, 28}));
  spec.size = 4;
  CHECK_THROWS_WITH(UnrelatedTrigger(UnrelatedTriggerOptions().folder(dir.path().string())).generate(train, spec),
                    Contains("fewer than the 4"));
}
