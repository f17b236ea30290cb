#include "wmark/watermark/trigger/abstract_trigger.h"

#include <torch/torch.h>

#include <array>

#include "wmark/util/error.h"

namespace wmark {
namespace {

// Coordinates are in half pixels (pixel x has its centre at 2x+1), so every test below
// is an exact int64 comparison.
struct Canvas {
  at::Tensor xs;  // int64 [1,W]
  at::Tensor ys;  // int64 [H,1]
  std::int64_t width;
  std::int64_t height;
};

// A direction (u, v), not both zero, from a small integer range: rotations without sin/cos.
std::array<std::int64_t, 2> direction(KeyStream& stream) {
  for (;;) {
    const auto u = stream.uniform(9) - 4;
    const auto v = stream.uniform(9) - 4;
    if (u != 0 || v != 0) return {u, v};
  }
}

// One shape's pixel mask, bool [H,W].
at::Tensor shape_mask(const Canvas& canvas, KeyStream& stream) {
  const auto kind = stream.uniform(4);
  const auto cx = stream.uniform(2 * canvas.width + 1);
  const auto cy = stream.uniform(2 * canvas.height + 1);
  const auto rx = 3 + stream.uniform(canvas.width);
  const auto ry = 3 + stream.uniform(canvas.height);
  const auto [u, v] = direction(stream);
  const auto norm2 = u * u + v * v;
  const auto x = canvas.xs - cx;
  const auto y = canvas.ys - cy;
  const auto along = x * u + y * v;    // |(u,v)| times the rotated coordinates
  const auto across = y * u - x * v;
  const auto a2 = along * along;
  const auto b2 = across * across;
  switch (kind) {
    case 0:  // ellipse
      return a2 * (ry * ry) + b2 * (rx * rx) <= rx * rx * ry * ry * norm2;
    case 1:  // rectangle
      return (a2 <= rx * rx * norm2) & (b2 <= ry * ry * norm2);
    case 2: {  // a band of stripes across an ellipse
      const auto period = (2 + stream.uniform(7)) * (std::abs(u) + std::abs(v));
      const auto inside = a2 * (ry * ry) + b2 * (rx * rx) <= rx * rx * ry * ry * norm2;
      return inside & torch::remainder(torch::div(along, period, "floor"), 2).eq(0);
    }
    default: {  // triangle: the same side of all three edges
      std::array<std::int64_t, 6> p{};
      for (std::size_t i = 0; i < 3; ++i) {
        p[2 * i] = stream.uniform(2 * canvas.width + 1);
        p[2 * i + 1] = stream.uniform(2 * canvas.height + 1);
      }
      std::array<at::Tensor, 3> side;
      for (std::size_t i = 0; i < 3; ++i) {
        const auto j = (i + 1) % 3;
        side[i] = (p[2 * j] - p[2 * i]) * (canvas.ys - p[2 * i + 1]) - (p[2 * j + 1] - p[2 * i + 1]) * (canvas.xs - p[2 * i]);
      }
      return ((side[0] >= 0) & (side[1] >= 0) & (side[2] >= 0)) | ((side[0] <= 0) & (side[1] <= 0) & (side[2] <= 0));
    }
  }
}

// Per-channel colour, int64 [C,1,1].
at::Tensor colour(KeyStream& stream, std::int64_t channels) {
  return stream.uniform(channels, 256).view({channels, 1, 1});
}

at::Tensor draw(const Canvas& canvas, std::int64_t channels, std::int64_t shapes, KeyStream& stream) {
  // Background: a linear gradient between two colours along a random direction.
  const auto [u, v] = direction(stream);
  const auto along = (canvas.xs * u + canvas.ys * v).expand({canvas.height, canvas.width});
  const auto low = along.min().item<std::int64_t>();
  const auto span = std::max<std::int64_t>(along.max().item<std::int64_t>() - low, 1);
  const auto from = colour(stream, channels);
  const auto to = colour(stream, channels);
  auto image = from + torch::div((to - from) * (along - low).unsqueeze(0), span, "floor");
  for (std::int64_t s = 0; s < shapes; ++s) {
    const auto mask = shape_mask(canvas, stream);
    const auto alpha = 128 + stream.uniform(129);  // opacity in [1/2, 1], in 256ths
    const auto paint = colour(stream, channels);
    image = torch::where(mask.unsqueeze(0), torch::div(image * (256 - alpha) + paint * alpha, 256, "floor"), image);
  }
  return image.clamp(0, 255).to(torch::kUInt8);
}

}  // namespace

const OptionBinding<AbstractTriggerOptions>& AbstractTrigger::declared_options() {
  static const auto binding = OptionBinding<AbstractTriggerOptions>("the abstract trigger")
      .describe("abstract images drawn from the key's secret (Adi et al.)")
      .integer(WMARK_OPTION_FIELD(shapes), "shapes drawn on each image", 1, 64)
      .flag("abstract-shapes");
  return binding;
}

AbstractTrigger::AbstractTrigger(AbstractTriggerOptions options) : options_(declared_options().checked(options)) {}

nlohmann::json AbstractTrigger::options() const { return declared_options().write(options_); }

TriggerSet AbstractTrigger::generate(const Dataset& train, const TriggerSpec& spec) const {
  WMARK_CHECK(spec.size >= 1, "trigger set size must be at least 1, got ", spec.size);
  const auto shape = train.shape();
  const Canvas canvas{(torch::arange(shape.width, torch::kLong) * 2 + 1).view({1, shape.width}),
                      (torch::arange(shape.height, torch::kLong) * 2 + 1).view({shape.height, 1}), shape.width,
                      shape.height};
  auto stream = spec.secret.stream("abstract-images");
  std::vector<at::Tensor> images;
  images.reserve(static_cast<std::size_t>(spec.size));
  for (std::int64_t i = 0; i < spec.size; ++i) images.push_back(draw(canvas, shape.channels, options_.shapes(), stream));
  TriggerSet set;
  set.images = torch::stack(images).contiguous();
  set.source_labels = torch::full({spec.size}, -1, torch::kLong);
  set.labels = assign_labels(set.source_labels, spec, train.num_classes);
  return set;
}

}  // namespace wmark
