#include "wmark/watermark/trigger/content_trigger.h"

#include <torch/torch.h>

#include "font5x7.h"
#include "wmark/data/image_file.h"
#include "wmark/util/error.h"

namespace wmark {
namespace {

// The text as a [7, 6*len-1] 0/1 mask (one blank column between glyphs).
torch::Tensor render_text(const std::string& text) {
  WMARK_CHECK(!text.empty(), "content trigger text must not be empty");
  const std::int64_t width = 6 * static_cast<std::int64_t>(text.size()) - 1;
  auto mask = torch::zeros({font5x7::kHeight, width}, torch::kFloat);
  auto* out = mask.data_ptr<float>();
  for (std::size_t i = 0; i < text.size(); ++i) {
    const auto* rows = font5x7::glyph(text[i]);
    WMARK_CHECK(rows, "the built-in font has no glyph for '", text[i],
                "'; use A-Z, 0-9, space, - . ! # or a --pattern image");
    for (int r = 0; r < font5x7::kHeight; ++r) {
      for (int c = 0; c < font5x7::kWidth; ++c) {
        if ((*rows)[r][c] == '#') out[r * width + 6 * std::int64_t(i) + c] = 1.0f;
      }
    }
  }
  return mask;
}

}  // namespace

const OptionBinding<ContentTriggerOptions>& ContentTrigger::declared_options() {
  static const auto binding = OptionBinding<ContentTriggerOptions>("the content trigger")
      .describe("a text or pattern stamped on training images of other classes (Zhang et al.)")
      .text(WMARK_OPTION_FIELD(text), "text to stamp (A-Z, 0-9, space, - . ! #)")
      .text(WMARK_OPTION_FIELD(pattern), "a pattern image (PNG/PGM/PPM) instead of text")
      .text(WMARK_OPTION_FIELD(mask), "a grey mask image for the pattern")
      .integer(WMARK_OPTION_FIELD(x), "left edge of the stamp (-1: centred)", -1, 4096)
      .flag("stamp-x")
      .integer(WMARK_OPTION_FIELD(y), "top edge of the stamp (-1: near the bottom)", -1, 4096)
      .flag("stamp-y")
      .integer(WMARK_OPTION_FIELD(scale), "image pixels per pattern pixel, each way", 1, 64)
      .number(WMARK_OPTION_FIELD(intensity), "stamp opacity (1: the pattern replaces the pixels)", 1e-9, 1.0);
  return binding;
}

ContentTrigger::ContentTrigger(ContentTriggerOptions options) : options_(declared_options().checked(options)) {
  WMARK_CHECK(options_.mask().empty() || !options_.pattern().empty(), "a mask needs a --pattern image");
}

nlohmann::json ContentTrigger::options() const { return declared_options().write(options_); }

std::pair<at::Tensor, at::Tensor> ContentTrigger::render(const ImageShape& shape) const {
  torch::Tensor alpha, colour;  // [h,w] in [0,1], [C,h,w] in 0..255
  if (options_.pattern().empty()) {
    alpha = render_text(options_.text());
    colour = torch::full({shape.channels, alpha.size(0), alpha.size(1)}, 255.0f);
  } else {
    auto image = read_image(options_.pattern());
    const auto c = image.size(0), h = image.size(1), w = image.size(2);
    if (!options_.mask().empty()) {
      auto mask = read_image(options_.mask());
      WMARK_CHECK(mask.size(1) == h && mask.size(2) == w, "mask ", options_.mask(), " is ", mask.size(2), "x",
                  mask.size(1), " but pattern ", options_.pattern(), " is ", w, "x", h);
      alpha = convert_images(mask.unsqueeze(0), 1, h, w)[0][0].to(torch::kFloat) / 255.0;
    } else if (c == 2 || c == 4) {
      alpha = image[c - 1].to(torch::kFloat) / 255.0;
    } else {
      alpha = torch::ones({h, w});
    }
    colour = convert_images(image.unsqueeze(0), shape.channels, h, w)[0].to(torch::kFloat);
  }
  if (options_.scale() > 1) {
    const auto s = options_.scale();
    alpha = alpha.repeat_interleave(s, 0).repeat_interleave(s, 1);
    colour = colour.repeat_interleave(s, 1).repeat_interleave(s, 2);
  }
  const auto h = alpha.size(0), w = alpha.size(1);
  const auto x = options_.x() >= 0 ? options_.x() : (shape.width - w) / 2;
  const auto y = options_.y() >= 0 ? options_.y() : shape.height - h - 1;
  WMARK_CHECK(x >= 0 && y >= 0 && x + w <= shape.width && y + h <= shape.height, "the content stamp (",
              w, "x", h, " at ", x, ",", y, ") does not fit in ", shape.width, "x", shape.height,
              " images; use shorter text, a smaller scale or another position");
  auto mask = torch::zeros({shape.height, shape.width});
  auto values = torch::zeros({shape.channels, shape.height, shape.width});
  mask.narrow(0, y, h).narrow(1, x, w).copy_(alpha * options_.intensity());
  values.narrow(1, y, h).narrow(2, x, w).copy_(colour);
  return {mask, values};
}

at::Tensor ContentTrigger::stamp(const at::Tensor& images) const {
  WMARK_CHECK(images.dim() == 4, "stamp expects images [N,C,H,W]");
  auto [mask, values] = render({images.size(1), images.size(2), images.size(3)});
  auto x = images.to(torch::kFloat);
  return (x * (1 - mask) + values * mask).round().clamp(0, 255).to(torch::kUInt8).contiguous();
}

TriggerSet ContentTrigger::generate(const Dataset& train, const TriggerSpec& spec) const {
  const auto& sources = trigger_sources(train, spec);
  auto index = pick_sources(sources, spec.size, spec, "content-sources");
  TriggerSet set;
  set.source_labels = sources.labels.index_select(0, index);
  set.images = stamp(sources.images.index_select(0, index));
  set.labels = assign_labels(set.source_labels, spec, train.num_classes);
  return set;
}

}  // namespace wmark
