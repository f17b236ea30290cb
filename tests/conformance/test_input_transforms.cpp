// Every registered input transform must honour the InputTransform contract
// (attack/input_transform.h): shape and range kept, image by image, repeatable.
#include <catch2/catch.hpp>

#include <torch/torch.h>

#include "../support/watermarked_fixture.h"
#include "declared_options.h"
#include "wmark/attack/input_transform.h"
#include "wmark/util/error.h"

using namespace wmark;
using Catch::Matchers::Contains;

TEST_CASE("every input transform keeps shape and range, works image by image and repeats itself", "[conformance]") {
  const auto names = input_transform_registry().names();
  REQUIRE(names == std::vector<std::string>{"feature-squeezing", "input-flipping", "input-gaussian-smoothing",
                                            "input-median-smoothing", "input-noising", "input-quantization",
                                            "jpeg-compression"});
  const auto& f = test::watermarked_mnist();
  const auto grey = f.test.images.narrow(0, 0, 6).to(torch::kFloat) / 255;
  // Colour images of an odd size (edges, chroma subsampling): noise over a gradient.
  const auto colour = (torch::rand({3, 3, 13, 11}, torch::TensorOptions().dtype(torch::kFloat)) * 0.3 +
                       torch::linspace(0, 0.7, 11).view({1, 1, 1, 11}))
                          .clamp(0, 1);
  for (const auto& name : names) {
    SECTION(name) {
      test::check_declared_options(input_transform_registry(), name);
      const auto transform = input_transform_registry().create(name);
      CHECK(transform->name() == name);
      for (const auto& pixels : {grey, colour}) {
        const auto out = transform->apply(pixels);
        CHECK(out.sizes() == pixels.sizes());
        CHECK(out.scalar_type() == torch::kFloat);
        CHECK(out.min().item<float>() >= 0);
        CHECK(out.max().item<float>() <= 1);
        CHECK(torch::equal(out, transform->apply(pixels)));
        // Image by image: an image's result does not depend on its batch.
        CHECK(torch::allclose(out.narrow(0, 1, 2), transform->apply(pixels.narrow(0, 1, 2)), 1e-6, 1e-6));
      }
      CHECK(transform->apply(grey.narrow(0, 0, 0)).sizes() == grey.narrow(0, 0, 0).sizes());  // an empty batch
      CHECK_THROWS_WITH(transform->apply(f.test.images.narrow(0, 0, 2)), Contains("float pixels"));
    }
  }
}
